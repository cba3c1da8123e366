"""Calibrate the training thresholds: the reference over several seeds beside the common bugs.

    python benchmarks/calibrate.py [--seeds 5] [--task mlp] [--set batch=40 --set lr=0.2]
                                   [--dataset fashion-mnist [--data-dir DIR]]

For each training task it trains with the trusted library parts (and with one part swapped for a known
mistake) and prints the metric the judge uses: test accuracy for the classifiers, the largest parameter error
for linear regression, the λ = 3 test loss for weight decay. The rubric's thresholds must sit clearly below
(or above, for errors and losses) every reference seed and clearly on the other side of the bugs.

With ``--dataset fashion-mnist`` it measures the classifiers on the real files (the rubric's Fashion-MNIST
thresholds are the book's figures less a margin until someone does: then set them in
``rubric.DATASET_THRESHOLDS`` and mark them measured).
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from grader import rubric
from grader.checks.trainings import tasks
from grader.data import datasets
from grader.engine import trusted


def _sgd_twice(params, grads, lr, batch_size):
    return jax.tree.map(lambda p, g: p - lr * g / batch_size / batch_size, params, grads)


def _sgd_no_divide(params, grads, lr, batch_size):
    return jax.tree.map(lambda p, g: p - lr * g, params, grads)


def _data_iter_no_shuffle(batch_size, features, labels, key):
    for i in range(0, len(features), batch_size):
        yield features[i:i + batch_size], labels[i:i + batch_size]


def _ce_mean(logits, y):
    return jnp.mean(trusted.cross_entropy(logits, y))


def _relu_abs(X):
    return jnp.abs(X)


def _l2_missing_half(w):
    return jnp.sum(w ** 2)


def _l2_norm(w):
    return jnp.sqrt(jnp.sum(w ** 2))


BUGS = {
    "sgd divides twice": ("sgd", _sgd_twice),
    "sgd no divide": ("sgd", _sgd_no_divide),
    "data_iter no shuffle": ("data_iter", _data_iter_no_shuffle),
    "cross_entropy mean": ("cross_entropy", _ce_mean),
    "relu = abs": ("relu", _relu_abs),
    "l2 without ½": ("l2_penalty", _l2_missing_half),
    "l2 = norm": ("l2_penalty", _l2_norm),
}

PROBES = {
    "linear_regression": tasks.probe_linear_regression,
    "softmax_regression": tasks.probe_softmax_regression,
    "mlp": tasks.probe_mlp,
    "weight_decay": tasks.probe_weight_decay,
}


def metric(task: str, obs, data) -> float:
    try:
        if task == "linear_regression":
            return tasks.linear_regression_error(obs)
        if task == "weight_decay":
            return tasks.weight_decay_test_losses(obs)[1]
        return tasks.classifier_accuracy(task, obs, data)
    except Exception as exc:
        print(f"    ({exc})")
        return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--task", action="append")
    parser.add_argument("--set", action="append", default=[],
                        help="key=value for the dataset's classifier settings (batch, lr, epochs)")
    parser.add_argument("--dataset", default="digits", choices=sorted(datasets.DATASETS))
    parser.add_argument("--data-dir")
    parser.add_argument("--no-bugs", action="store_true")
    args = parser.parse_args()
    data = datasets.DataSpec(args.dataset, args.data_dir).resolve()
    settings = tasks.CLASSIFIER[data.name]
    for item in args.set:
        key, value = item.split("=")
        settings[key] = type(settings[key])(float(value))
    checks = rubric.checks_for_data(data)
    for task, probe in PROBES.items():
        if args.task and task not in args.task:
            continue
        check = next(c for c in checks if c.target == task)
        uses = rubric.PROBES[task].uses
        extra = {"data": data} if rubric.PROBES[task].needs_data else {}
        print(f"{task}  (threshold {check.threshold}{'' if check.threshold_measured else ', unmeasured'}; "
              f"settings {settings if extra else ''})")
        variants = {"reference": {}} | ({} if args.no_bugs else
                                       {k: {f: fn} for k, (f, fn) in BUGS.items() if f in uses})
        for label, swap in variants.items():
            fns = dict(trusted.FUNCTIONS) | swap
            t = time.perf_counter()
            values = [metric(task, probe(fns, seed=s, **extra), data) for s in range(args.seeds)]
            dt = (time.perf_counter() - t) / args.seeds
            v = np.array(values)
            print(f"  {label:22s} min {np.nanmin(v) if not np.all(np.isnan(v)) else np.nan:8.4g}  "
                  f"mean {np.nanmean(v) if not np.all(np.isnan(v)) else np.nan:8.4g}  "
                  f"max {np.nanmax(v) if not np.all(np.isnan(v)) else np.nan:8.4g}   "
                  f"[{', '.join(f'{x:.3g}' for x in values)}]  {dt:.1f}s/run")


if __name__ == "__main__":
    main()

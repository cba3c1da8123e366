"""Training checks: models trained with the student's own parts, judged on what they learned.

Each probe trains in the trusted loop (:func:`grader.checks.trainings.loop.minibatch_sgd`) with fixed seeds and
records the final parameters and the per-epoch training loss; the judge, in the grading process, evaluates those
parameters itself (test accuracy, parameter error, test loss) and compares with the rubric's threshold.

Settings on the embedded digits set (1,347 training images of 64 pixels; the book's batch of 256 underfits it),
from :data:`TRAININGS` (the students' README shows the same):

@TRAININGS@

With ``grade --dataset fashion-mnist`` the two classifiers train on Fashion-MNIST (60,000 images of 784
pixels) with the book's settings instead: batch 256, lr 0.1, 10 epochs (:data:`CLASSIFIER`).

The library parts are :mod:`grader.engine.trusted`: a bug in ``sgd`` costs ``sgd``'s checks and the linear
regression, not every training. Every probe also records the parameters after each epoch (``epochs.<name>``),
from which :mod:`grader.reports.curves` draws the per-epoch test metrics of the figures.

Batch 40 rather than 32 on digits: 1,347 = 42 · 32 + 3, and the last, 3-example batch of every epoch took a
step noisy enough to drop the MLP to 0.80 test accuracy on some seeds; 40 leaves a last batch of 27. With lr
0.3 the reference reaches 0.940–0.953 (softmax regression) and 0.947–0.960 (MLP) over ten seeds
(``benchmarks/calibrate.py``).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from grader.checks.common import Observations, Verdict, failed, nonfinite_summary, passed
from grader.checks.trainings.loop import TrainingError, minibatch_sgd
from grader.data import datasets
from grader.engine import trusted

SEED = 0

# --- data and models (trusted code, the same in the probe and the judge) -------------------------------------

TRUE_W = np.array([2.0, -3.4], np.float32)
TRUE_B = 4.2


def synthetic_linear(key, w, b, num_examples: int, noise: float = 0.01):
    """y = Xw + b + ε with X ~ N(0, 1) and ε ~ N(0, noise²); y has shape (n, 1)."""
    kx, ke = jax.random.split(key)
    X = jax.random.normal(kx, (num_examples, len(w)))
    y = X @ jnp.asarray(w) + b + noise * jax.random.normal(ke, (num_examples,))
    return X, y.reshape(-1, 1)


def squared_loss_sum(y_hat, y):
    """Σ_i ½ (ŷ_i − y_i)²."""
    return jnp.sum((y_hat - y.reshape(y_hat.shape)) ** 2 / 2)


def mlp_logits(params, X, relu=jax.nn.relu):
    """Logits of the one-hidden-layer MLP: relu(X W1 + b1) W2 + b2."""
    return relu(X @ params["W1"] + params["b1"]) @ params["W2"] + params["b2"]


def softmax_logits(params, X):
    return X @ params["W"] + params["b"]


def accuracy(logits, y) -> float:
    return float(np.mean(np.argmax(np.asarray(logits), axis=1) == np.asarray(y)))


# Classifier settings per dataset (softmax regression and the MLP share them).
CLASSIFIER = {
    "digits": dict(batch=40, lr=0.3, epochs=10),
    "fashion-mnist": dict(batch=256, lr=0.1, epochs=10),  # the book's
}
HIDDEN = 256

WD = dict(n_train=20, n_test=100, num_inputs=200, w=0.01, b=0.05, batch=5, lr=0.003, epochs=100)
LINEAR = dict(batch=10, lr=0.03, epochs=3)  # linear regression on 1,000 synthetic examples


class Training(NamedTuple):
    """One training as documented: its label, the student's parts and the library parts it trains with, and
    the settings its probe uses (``batch``, ``lr`` and ``epochs`` of that dict)."""
    label: str
    parts: str
    library: str
    settings: dict


# Every training by rubric target: the table of this module's docstring and of the students' README
# (:mod:`grader.authoring.student_readme`), and the settings the probes below train with on digits.
TRAININGS = {
    "linear_regression": Training("linear_regression", "data_iter, sgd", "—", LINEAR),
    "softmax_regression": Training("softmax_regression", "cross_entropy", "data_iter, sgd", CLASSIFIER["digits"]),
    "mlp": Training(f"mlp ({HIDDEN} hidden)", "relu", "data_iter, sgd, cross_entropy", CLASSIFIER["digits"]),
    "weight_decay": Training("weight_decay (λ=0,3)", "l2_penalty", "data_iter, sgd", WD),
}
SETTINGS = ("batch", "lr", "epochs")


def settings_table() -> str:
    """:data:`TRAININGS` as a reStructuredText simple table."""
    rows = [("task", "student's parts", "library parts (other sections)", *SETTINGS)]
    rows += [(t.label, t.parts, t.library, *(f"{t.settings[k]:g}" for k in SETTINGS)) for t in TRAININGS.values()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    rule = "  ".join("=" * w for w in widths)
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join([rule, lines[0], rule, *lines[1:], rule])


if __doc__:  # None under python -OO
    __doc__ = __doc__.replace("@TRAININGS@", settings_table())


@functools.lru_cache(maxsize=1)
def weight_decay_data():
    """The high-dimensional regression: n_train + n_test examples of 200 inputs (computed once)."""
    d = WD["num_inputs"]
    true_w = np.full((d,), WD["w"], np.float32)
    X, y = synthetic_linear(jax.random.PRNGKey(SEED + 7), true_w, WD["b"], WD["n_train"] + WD["n_test"])
    n = WD["n_train"]
    return X[:n], y[:n], X[n:], y[n:]


# --- probes ------------------------------------------------------------------------------------------------

def _train(obs: Observations, what: str, run) -> None:
    """Run one training and record its outputs; a failure is recorded for every output key."""
    try:
        results = run()
    except TrainingError as exc:
        obs.fail_all(f"{what}: {exc}")
        return
    for key, value in results.items():
        obs.record(key, what, lambda value=value: value)


def _outputs(trained, suffix: str = "") -> dict:
    """The final parameters, per-epoch training loss and per-epoch parameters (``epochs.<name>``) of a run."""
    out = {f"{k}{suffix}": v for k, v in trained.params.items()}
    out.update({f"epochs.{k}{suffix}": v for k, v in trained.by_epoch.items()})
    out[f"train_loss{suffix}"] = trained.train_loss
    out[f"empty_batches{suffix}"] = np.array(trained.empty_batches)
    return out


def _parts(fns) -> dict:
    """The student's functions, completed with the trusted library's for the other sections."""
    return {**trusted.FUNCTIONS, **fns}


def probe_linear_regression(fns, seed: int = SEED) -> Observations:
    obs = Observations()

    def run():
        X, y = synthetic_linear(jax.random.PRNGKey(seed), TRUE_W, TRUE_B, 1000)
        kw = jax.random.PRNGKey(seed + 1)
        params = {"w": 0.01 * jax.random.normal(kw, (2, 1)), "b": jnp.zeros((1,))}
        loss = lambda p, X, y: squared_loss_sum(X @ p["w"] + p["b"], y)  # noqa: E731
        return _outputs(minibatch_sgd(params, loss, fns["data_iter"], fns["sgd"], X, y, LINEAR["batch"],
                                      LINEAR["lr"], LINEAR["epochs"], jax.random.PRNGKey(seed + 2)))
    _train(obs, "linear regression trained with your data_iter and sgd", run)
    return obs


def _classifier(fns, params, logits_fn, data: datasets.DataSpec, seed: int):
    split = data.load()
    settings = CLASSIFIER[data.name]
    fns = _parts(fns)
    ce = fns["cross_entropy"]
    loss = lambda p, X, y: jnp.sum(ce(logits_fn(p, X), y))  # noqa: E731
    return _outputs(minibatch_sgd(params, loss, fns["data_iter"], fns["sgd"], split.X_train, split.y_train,
                                  settings["batch"], settings["lr"], settings["epochs"],
                                  jax.random.PRNGKey(seed + 2)))


def _shape(data: datasets.DataSpec) -> tuple[int, int]:
    split = data.load()
    return split.X_train.shape[1], split.num_classes


def probe_softmax_regression(fns, data: datasets.DataSpec = datasets.DIGITS, seed: int = SEED) -> Observations:
    obs = Observations()

    def run():
        inputs, classes = _shape(data)
        params = {"W": 0.01 * jax.random.normal(jax.random.PRNGKey(seed + 1), (inputs, classes)),
                  "b": jnp.zeros((classes,))}
        return _classifier(fns, params, softmax_logits, data, seed)
    _train(obs, "softmax regression trained with your cross_entropy", run)
    return obs


def probe_mlp(fns, data: datasets.DataSpec = datasets.DIGITS, seed: int = SEED) -> Observations:
    obs = Observations()

    def run():
        inputs, classes = _shape(data)
        k1, k2 = jax.random.split(jax.random.PRNGKey(seed + 1))
        params = {"W1": 0.01 * jax.random.normal(k1, (inputs, HIDDEN)), "b1": jnp.zeros((HIDDEN,)),
                  "W2": 0.01 * jax.random.normal(k2, (HIDDEN, classes)), "b2": jnp.zeros((classes,))}
        relu = fns["relu"]
        return _classifier(fns, params, lambda p, X: mlp_logits(p, X, relu), data, seed)
    _train(obs, "the MLP trained with your relu", run)
    return obs


def probe_weight_decay(fns, seed: int = SEED) -> Observations:
    obs = Observations()

    def run():
        X, y, _, _ = weight_decay_data()
        parts = _parts(fns)
        l2 = parts["l2_penalty"]
        out = {}
        for lambd in (0, 3):
            params = {"w": jax.random.normal(jax.random.PRNGKey(seed + 1), (WD["num_inputs"], 1)),
                      "b": jnp.zeros((1,))}
            # The penalty is added to every example's loss, as in the book, then summed over the batch.
            loss = lambda p, X, y, lambd=lambd: (  # noqa: E731
                squared_loss_sum(X @ p["w"] + p["b"], y) + X.shape[0] * lambd * jnp.reshape(l2(p["w"]), ()))
            out.update(_outputs(minibatch_sgd(params, loss, parts["data_iter"], parts["sgd"], X, y, WD["batch"],
                                              WD["lr"], WD["epochs"], jax.random.PRNGKey(seed + 2)), str(lambd)))
        return out
    _train(obs, "weight decay trained with your l2_penalty", run)
    return obs


# --- judges ------------------------------------------------------------------------------------------------

def _finite(*arrays) -> bool:
    return all(np.all(np.isfinite(np.asarray(a, np.float64))) for a in arrays)


def divergence(s: Observations, params: tuple[str, ...], suffix: str = "") -> str | None:
    """What the run shows when it went wrong numerically: the first epoch whose training loss was nan or inf,
    and whether the final parameters are; ``None`` when both are finite."""
    loss = np.asarray(s[f"train_loss{suffix}"], np.float64)
    bad = np.flatnonzero(~np.isfinite(loss))
    finite_params = _finite(*(s[k + suffix] for k in params))
    if not len(bad) and finite_params:
        return None
    kind = nonfinite_summary(loss[bad]) if len(bad) else ""
    text = f"the training loss was {kind} from epoch {bad[0] + 1}" if len(bad) else "the training loss stayed finite"
    return text + (" (training diverged)" if finite_params else
                   " and the parameters became nan/inf (training diverged)")


def _empty_batches(s: Observations, suffix: str = "") -> int:
    key = f"empty_batches{suffix}"
    return int(s[key]) if key in s else 0


def parameter_error(w, b) -> float:
    """max(|ŵ − w|, |b̂ − b|) against the true w = [2, −3.4], b = 4.2 (float64)."""
    w, b = np.ravel(np.asarray(w, np.float64)), np.ravel(np.asarray(b, np.float64))
    return float(max(np.max(np.abs(w - TRUE_W.astype(np.float64))), np.max(np.abs(b - TRUE_B))))


def linear_regression_error(s: Observations) -> float:
    return parameter_error(s["w"], s["b"])


def judge_linear_regression(s: Observations, r: Observations, check) -> Verdict:
    w, b = s["w"], s["b"]
    if np.asarray(w).size != 2 or np.asarray(b).size != 1:
        return failed(f"training returned w of shape {np.shape(w)} and b of shape {np.shape(b)}")
    diverged = divergence(s, ("w", "b"))
    if diverged and _empty_batches(s):
        cause = ("data_iter yielded an empty batch (0 examples), and a step divides by the batch size, 0: data_iter "
                 "must stop when the examples run out")
    else:
        cause = "look for a step that is too large (sgd not dividing by batch_size) or a loss that overflows"
    if not _finite(w, b):
        return failed(f"{diverged}: {cause}")
    err = linear_regression_error(s)
    msg = (f"recovered w = {np.round(np.ravel(w), 4).tolist()}, b = {float(np.ravel(b)[0]):.4f}; "
           f"largest error {err:.2g} (threshold {check.threshold:g})")
    if err <= check.threshold:
        return passed(msg)
    if diverged:
        return failed(f"{diverged}; {msg}: {cause}")
    return failed(msg + ": the parameters did not converge; check that sgd takes p - lr * g / batch_size "
                  "and that data_iter covers every example each epoch")


def _matmul(a, b) -> np.ndarray:
    """a @ b in float64 without BLAS threads: the judge runs beside busy children, where threaded BLAS stalls."""
    return np.einsum("ij,jk->ik", np.asarray(a, np.float64), np.asarray(b, np.float64))


def classifier_logits(task: str, params, X) -> np.ndarray:
    """Logits of the trusted model for ``params`` (NumPy, float64): X W + b, or relu(X W1 + b1) W2 + b2."""
    if task == "mlp":
        hidden = np.maximum(_matmul(X, params["W1"]) + params["b1"], 0.0)
        return _matmul(hidden, params["W2"]) + params["b2"]
    return _matmul(X, params["W"]) + params["b"]


def classifier_accuracy(task: str, s: Observations, data: datasets.DataSpec = datasets.DIGITS) -> float:
    """Test accuracy of the returned parameters, evaluated here (NumPy) with the trusted model."""
    split = data.load()
    return accuracy(classifier_logits(task, s, split.X_test), split.y_test)


def _threshold_text(check) -> str:
    """'threshold 0.956, set in grading.toml': the threshold as configured (never rounded), and where it came from."""
    if check.threshold_from:
        source = f", set in {check.threshold_from}"
    else:
        source = "" if check.threshold_measured else ", from the book's figure less a margin, not yet measured here"
    return f"threshold {check.threshold:g}{source}"


CHANCE_MARGIN = 2.0  # an accuracy below twice chance level: the model did not learn at all


def _judge_classifier(task: str, s: Observations, check) -> Verdict:
    keys = ("W1", "b1", "W2", "b2") if task == "mlp" else ("W", "b")
    diverged = divergence(s, keys)
    if diverged and not _finite(*(s[k] for k in keys)):
        return failed(f"{diverged}: the gradient of the loss was not finite")
    try:
        acc = classifier_accuracy(task, s, check.data)
    except Exception as exc:  # wrong shapes from a broken sgd
        return failed(f"the trained parameters have the wrong shapes ({exc}): sgd must keep every leaf's shape")
    msg = f"test accuracy {acc:.4g} on {check.data.name} ({_threshold_text(check)})"
    if acc >= check.threshold:
        return passed(msg)
    classes = int(np.size(s["b2" if task == "mlp" else "b"])) or 10
    if acc < CHANCE_MARGIN / max(classes, 2):
        what = (": the model did not learn (about chance level); the failing checks of the parts it uses name the "
                "likely bug")
    else:
        what = (f": the model learned, but {check.threshold - acc:.3g} short of the threshold; the failing checks of "
                "the parts it uses name the likely bug")
    return failed((f"{diverged}; " if diverged else "") + msg + what)


def judge_softmax_regression(s: Observations, r: Observations, check) -> Verdict:
    return _judge_classifier("softmax_regression", s, check)


def judge_mlp(s: Observations, r: Observations, check) -> Verdict:
    return _judge_classifier("mlp", s, check)


def mean_squared_losses(X, y, w, b=0.0) -> np.ndarray:
    """Mean ½ (x·w_k + b_k − y)² over the examples, for each row k of ``w`` (K, d) and ``b`` (K,) or a scalar:
    one loss per set of weights (the weights after each epoch, say), in float64 without BLAS threads."""
    X, w = np.asarray(X, np.float64), np.asarray(w, np.float64).reshape(-1, np.shape(X)[1])
    b = np.reshape(np.asarray(b, np.float64), (-1, 1))
    residual = np.einsum("nd,kd->kn", X, w) + b - np.asarray(y, np.float64).reshape(1, -1)
    return np.mean(residual ** 2, axis=1) / 2


def weight_decay_test_losses(s: Observations) -> tuple[float, float]:
    """Mean test loss ½ (x·w + b − y)² for λ = 0 and λ = 3, evaluated here (NumPy)."""
    _, _, X_test, y_test = weight_decay_data()
    loss0, loss3 = (float(mean_squared_losses(X_test, y_test, s[f"w{lambd}"], np.ravel(s[f"b{lambd}"])[0])[0])
                    for lambd in (0, 3))
    return loss0, loss3


def judge_weight_decay(s: Observations, r: Observations, check) -> Verdict:
    diverged = {lambd: divergence(s, ("w", "b"), str(lambd)) for lambd in (0, 3)}
    for lambd, text in diverged.items():
        if not _finite(s[f"w{lambd}"], s[f"b{lambd}"]):
            return failed(f"with λ = {lambd}, {text}: look for a penalty whose value or gradient overflows")
    loss0, loss3 = weight_decay_test_losses(s)
    msg = f"test loss {loss0:.3g} with λ = 0 and {loss3:.3g} with λ = 3 (threshold {check.threshold:g})"
    if loss3 <= check.threshold and loss3 < loss0:
        return passed(msg)
    msg = "; ".join([f"with λ = {lambd}, {text}" for lambd, text in diverged.items() if text] + [msg])
    return failed(msg + ": weight decay should pull w towards 0 and lower the test loss; check that l2_penalty "
                  "is sum(w ** 2) / 2, with a gradient of w")

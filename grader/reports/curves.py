"""Per-epoch curves of the training probes, for the figures of ``grade --report-dir``.

Everything here is computed in the grading process from what the probe recorded: the training loss of each
epoch and the parameters after each epoch (``epochs.<name>``). Test metrics are evaluated with the trusted
models, never taken from the child, so the last point of a curve is the number the check judged.

A figure is a list of :class:`Panel` s, one metric each, drawn for the student's run and the reference's.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from grader.checks.common import Observations
from grader.checks.trainings import polynomial, tasks


@dataclasses.dataclass(frozen=True)
class Panel:
    """One metric per epoch: ``series`` maps a label (``"train"``, ``"test"``) to one value per epoch."""

    title: str
    ylabel: str
    series: dict[str, np.ndarray]
    log: bool = False              # a logarithmic y axis (losses that fall by orders of magnitude)
    threshold: float | None = None  # the check's pass line, drawn across the panel


def _epochs(s: Observations, key: str) -> np.ndarray:
    return np.asarray(s[f"epochs.{key}"], np.float64)


def linear_regression(s: Observations, check) -> list[Panel]:
    """Training loss ½(ŷ − y)² and the largest parameter error max(|ŵ − w|, |b̂ − b|) after each epoch."""
    w, b = _epochs(s, "w"), _epochs(s, "b")
    error = np.array([tasks.parameter_error(w[e], b[e]) for e in range(len(w))])
    return [Panel("training loss", "mean ½(ŷ − y)²", {"train": np.asarray(s["train_loss"], np.float64)}, log=True),
            Panel("parameter error", "max |ŵ − w|, |b̂ − b|", {"error": error}, log=True, threshold=check.threshold)]


def classifier(s: Observations, check) -> list[Panel]:
    """Training cross-entropy of each epoch and the test accuracy of the parameters after each epoch."""
    task = check.probe
    names = ("W1", "b1", "W2", "b2") if task == "mlp" else ("W", "b")
    by_epoch = {k: _epochs(s, k) for k in names}
    split = check.data.load()
    accuracy = np.array([tasks.accuracy(tasks.classifier_logits(task, {k: v[e] for k, v in by_epoch.items()},
                                                                      split.X_test), split.y_test)
                         for e in range(len(by_epoch[names[0]]))])
    return [Panel("training loss", "mean cross-entropy", {"train": np.asarray(s["train_loss"], np.float64)}),
            Panel(f"test accuracy ({check.data.name})", "accuracy", {"test": accuracy}, threshold=check.threshold)]


def weight_decay(s: Observations, check) -> list[Panel]:
    """For λ = 0 and λ = 3: mean ½(x·w + b − y)² on the 20 training and the 100 test examples after each
    epoch (the book's figure); the threshold applies to λ = 3's test loss."""
    X_train, y_train, X_test, y_test = tasks.weight_decay_data()
    panels = []
    for lambd in (0, 3):
        w, b = _epochs(s, f"w{lambd}"), _epochs(s, f"b{lambd}")
        panels.append(Panel(f"λ = {lambd}", "mean ½(ŷ − y)²",
                            {"train": tasks.mean_squared_losses(X_train, y_train, w, b),
                             "test": tasks.mean_squared_losses(X_test, y_test, w, b)},
                            log=True, threshold=check.threshold if lambd == 3 else None))
    return panels


TRAINING = {"linear_regression": linear_regression, "softmax_regression": classifier, "mlp": classifier,
            "weight_decay": weight_decay}


def training_panels(s: Observations, check) -> list[Panel]:
    """The panels of a training check's figure; raises ProbeFailed when the run recorded nothing to draw."""
    return TRAINING[check.probe](s, check)


def polynomial_panels(s: Observations) -> list[Panel]:
    """Train and test loss per epoch of the three polynomial fits (normal, under-, over-fitting)."""
    titles = {"normal": "third order (4 features)", "underfit": "linear (2 features): underfit",
              "overfit": "degree 19 on 2 examples: overfit"}
    panels = []
    for fit in polynomial.FITS:
        train, test = polynomial.losses_by_epoch(s, fit)
        panels.append(Panel(titles[fit], "mean ½(ŷ − y)²", {"train": train, "test": test}, log=True))
    return panels

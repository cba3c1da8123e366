"""The polynomial under/over-fitting experiment, trained with the student's ``data_iter`` and ``sgd``.

No check judges it: it feeds the figure of ``grade --report-dir`` (:mod:`grader.reports.figures`), so a student sees
their own parts reproduce the book's picture. Data, as in the book:

    y = 5 + 1.2 x − 3.4 x²/2! + 5.6 x³/3! + ε,   x ~ N(0, 1),   ε ~ N(0, 0.1²),

with features x^i / i! for i = 0..19 (column 0 is the constant 1, so there is no separate bias), 100 training
and 100 test examples. Three fits of w (init N(0, 0.01²)) by minibatch SGD on the summed squared loss,
batch min(10, n), lr 0.01, 400 epochs:

==========  ========  =================  =============================================
fit         features  training examples  what the curves show
==========  ========  =================  =============================================
normal      4         100                train and test loss fall together to ≈ 0.01
underfit    2         100                both stay high: a line cannot follow a cubic
overfit     20        2                  train loss falls, test loss stays far above it
==========  ========  =================  =============================================

Each fit records ``epochs.w_<fit>`` (the weights after every epoch); the grading process evaluates the
train/test losses itself (:func:`losses_by_epoch`).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from grader.checks.common import Observations
from grader.checks.trainings.loop import TrainingError, minibatch_sgd
from grader.checks.trainings.tasks import mean_squared_losses, squared_loss_sum

SEED = 0
MAX_DEGREE = 20
N_TRAIN = N_TEST = 100
TRUE_W = (5.0, 1.2, -3.4, 5.6)
NOISE = 0.1
LR, BATCH, EPOCHS = 0.01, 10, 400
FITS = {"normal": (4, N_TRAIN), "underfit": (2, N_TRAIN), "overfit": (MAX_DEGREE, 2)}  # (features, examples)


@functools.lru_cache(maxsize=1)
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train features, train labels, test features, test labels); features[:, i] = x^i / i!, labels (n, 1)."""
    kx, ke = jax.random.split(jax.random.PRNGKey(SEED + 11))
    n = N_TRAIN + N_TEST
    x = np.asarray(jax.random.normal(kx, (n, 1)), np.float64)
    degrees = np.arange(MAX_DEGREE)
    features = x ** degrees / np.array([math.factorial(i) for i in degrees], np.float64)
    w = np.zeros(MAX_DEGREE)
    w[:len(TRUE_W)] = TRUE_W
    labels = features @ w + NOISE * np.asarray(jax.random.normal(ke, (n,)), np.float64)
    features, labels = features.astype(np.float32), labels.astype(np.float32).reshape(-1, 1)
    return features[:N_TRAIN], labels[:N_TRAIN], features[N_TRAIN:], labels[N_TRAIN:]


def probe(fns, seed: int = SEED) -> Observations:
    obs = Observations()
    X_train, y_train, _, _ = data()
    for fit, (d, n) in FITS.items():
        X, y = jnp.asarray(X_train[:n, :d]), jnp.asarray(y_train[:n])
        w0 = 0.01 * jax.random.normal(jax.random.PRNGKey(seed + 1), (d, 1))
        loss = lambda w, X, y: squared_loss_sum(X @ w, y)  # noqa: E731
        try:
            trained = minibatch_sgd(w0, loss, fns["data_iter"], fns["sgd"], X, y, min(BATCH, n), LR, EPOCHS,
                                    jax.random.PRNGKey(seed + 2))
        except TrainingError as exc:
            obs.errors[f"epochs.w_{fit}"] = f"the {fit} polynomial fit: {exc}"
            continue
        obs.record(f"epochs.w_{fit}", f"the {fit} polynomial fit", lambda t=trained: t.by_epoch)
    return obs


def losses_by_epoch(obs: Observations, fit: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean ½ (x·w − y)² on the fit's training examples and on the test set, after every epoch."""
    d, n = FITS[fit]
    X_train, y_train, X_test, y_test = data()
    w = obs[f"epochs.w_{fit}"]  # (epochs, d, 1)
    return (mean_squared_losses(X_train[:n, :d], y_train[:n], w),
            mean_squared_losses(X_test[:, :d], y_test, w))

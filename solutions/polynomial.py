"""Under- and over-fitting with polynomial regression.

Data: y = 5 + 1.2 x - 3.4 x^2/2! + 5.6 x^3/3! + eps, x ~ N(0, 1), eps ~ N(0, 0.1^2). The model is linear in
the features x^i / i! (i = 0..19; the i! keeps high powers from blowing up). Fitting the first 4 features
recovers the coefficients, the first 2 under-fit, and all 20 on a handful of examples over-fit.
"""

import math
import sys
from typing import NamedTuple

import jax
import numpy as np
import optax

MAX_DEGREE = 20
N_TRAIN = 100
N_TEST = 100
TRUE_W = (5.0, 1.2, -3.4, 5.6)
NOISE_STD = 0.1
NUM_EPOCHS = 400
LR = 0.01
BATCH_SIZE = 10
OVERFIT_N_TRAIN = 2


class PolynomialData(NamedTuple):
    """Features x^i / i! (one column per degree) and labels, split into train and test."""

    train_features: np.ndarray
    train_labels: np.ndarray
    test_features: np.ndarray
    test_labels: np.ndarray


def make_polynomial_data(key, max_degree=MAX_DEGREE, n_train=N_TRAIN, n_test=N_TEST,
                         true_w=TRUE_W, noise_std=NOISE_STD):
    """Sample x ~ N(0, 1), build features[:, i] = x^i / i! for i < max_degree and
    labels = features @ w + eps, with w = ``true_w`` padded by zeros and eps ~ N(0, noise_std^2)."""
    key_x, key_noise = jax.random.split(key)
    n = n_train + n_test
    x = np.asarray(jax.random.normal(key_x, (n, 1)), dtype=np.float64)
    degrees = np.arange(max_degree)
    features = x ** degrees / np.array([math.factorial(i) for i in degrees], dtype=np.float64)
    w = np.zeros(max_degree)
    w[:len(true_w)] = true_w
    labels = features @ w + noise_std * np.asarray(jax.random.normal(key_noise, (n,)))
    features, labels = features.astype(np.float32), labels.astype(np.float32)
    return PolynomialData(features[:n_train], labels[:n_train], features[n_train:], labels[n_train:])


def fit(train_features, train_labels, test_features, test_labels, num_epochs=NUM_EPOCHS, lr=LR,
        batch_size=BATCH_SIZE, key=None):
    """Fit y ~ features @ w (no separate bias: column 0 is the constant 1) by minibatch ``optax.sgd`` on the
    mean squared loss, w initialised from N(0, 0.01^2).

    Returns ``(w, train_losses, test_losses)``: the learnt weights (shape (d,)) and the mean squared loss
    on each set after every epoch.
    """
    # data_iter and squared_loss come from the linear-regression exercise; imported here so this module
    # imports even when that one is broken.
    from grader.section_script import one_pass

    from .linear_regression import data_iter, squared_loss

    key = jax.random.key(0) if key is None else key
    init_key, iter_key = jax.random.split(key)
    tx = optax.sgd(lr)

    def mean_loss(w, X, y):
        return squared_loss(X @ w, y).mean()

    @jax.jit
    def step(w, opt_state, X, y):
        updates, opt_state = tx.update(jax.grad(mean_loss)(w, X, y), opt_state)
        return optax.apply_updates(w, updates), opt_state

    evaluate = jax.jit(mean_loss)
    w = 0.01 * jax.random.normal(init_key, (train_features.shape[1], 1))
    opt_state = tx.init(w)
    batch_size = min(batch_size, len(train_labels))
    train_losses, test_losses = [], []
    for epoch in range(num_epochs):
        epoch_batches = data_iter(batch_size, train_features, train_labels, jax.random.fold_in(iter_key, epoch))
        for X, y in one_pass(epoch_batches, len(train_features), batch_size):
            w, opt_state = step(w, opt_state, X, y)
        train_losses.append(float(evaluate(w, train_features, train_labels)))
        test_losses.append(float(evaluate(w, test_features, test_labels)))
    return np.asarray(w[:, 0]), train_losses, test_losses


def _report(title, data, num_features, n_train=None):
    """Fit the first ``num_features`` features on the first ``n_train`` training examples and print it."""
    w, train_losses, test_losses = fit(data.train_features[:n_train, :num_features], data.train_labels[:n_train],
                                       data.test_features[:, :num_features], data.test_labels)
    print(f"== {title}")
    for epoch in (0, 19, 99, NUM_EPOCHS - 1):
        print(f"epoch {epoch + 1}, train loss {train_losses[epoch]:.4f}, test loss {test_losses[epoch]:.4f}")
    print("weight:", np.array2string(w, precision=3, suppress_small=True, max_line_width=100))
    return w, train_losses, test_losses


def main(plot_to=None):
    """The three fits; with ``plot_to`` (``python -m solutions.polynomial curves.png``) save the book's
    train/test loss figure of each there."""
    data = make_polynomial_data(jax.random.key(0))
    print("true weight:", TRUE_W, "(padded by zeros)")
    print("first example: features[:4] =", data.train_features[0, :4], "label =", data.train_labels[0])
    fits = {"third order (4 features): normal": (4, None), "linear (2 features): under-fitting": (2, None),
            f"all {MAX_DEGREE} features, {OVERFIT_N_TRAIN} examples: over-fitting": (MAX_DEGREE, OVERFIT_N_TRAIN)}
    panels = {}
    for title, (num_features, n_train) in fits.items():
        _, train_losses, test_losses = _report(title, data, num_features, n_train)
        panels[title] = {"train": train_losses, "test": test_losses}
    if plot_to:
        from grader.reports.figures import save_curves
        print("saved", save_curves(plot_to, "Polynomial regression: under- and over-fitting", {"": panels},
                                   ylabel="mean squared loss", log=True))


if __name__ == "__main__":
    from grader.section_script import run  # a stub of an earlier section, or an endless data_iter, is told in a line

    run(main, *sys.argv[1:2])

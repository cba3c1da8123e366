# Generated from solutions/ by `python -m grader.authoring.build`: edit the solutions, not this file.
"""Softmax regression on the digits set (8x8 images, 10 classes): from scratch and with
``nnx.Linear`` + ``optax.sgd``, both trained by the same ``train_ch3`` loop."""

import functools
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from grader.data.datasets import load_digits

BATCH_SIZE = 40  # 1,347 training images: 32 would leave a noisy last batch of 3
LR = 0.3
NUM_EPOCHS = 10
NUM_INPUTS = 64
NUM_OUTPUTS = 10
INIT_STD = 0.01
EVAL_BATCH_SIZE = 256


def softmax(X):
    """Softmax over the last axis: softmax(x)_j = exp(x_j) / sum_k exp(x_k).

    Computed as exp(x_j - m) / sum_k exp(x_k - m) with m = max_k x_k (a constant for autodiff), which is
    mathematically the same but cannot overflow. Works for any rank >= 1; each row sums to 1.

    Not allowed (they do the exercise for you: this function would score 0): softmax and log_softmax from
    jax.nn, jax.scipy.special, flax.nnx and flax.linen, and anything from the grader package.
    """
    # YOUR CODE HERE
    raise NotImplementedError('subtract the (stop_gradient-ed, keepdims) row maximum before exponentiating, then divide by the row sums.')


def cross_entropy(logits, y):
    """Per-example cross-entropy of integer labels under softmax(logits), shape (n,).

    loss_i = -log softmax(o_i)[y_i] = log sum_k exp(o_ik) - o_{i,y_i}, evaluated with the log-sum-exp
    shift by m_i = max_k o_ik so that it stays finite for large logits.

    Not allowed (they do the exercise for you: this function would score 0): optax's softmax_cross_entropy,
    softmax_cross_entropy_with_integer_labels and safe_softmax_cross_entropy (in optax and optax.losses),
    softmax and log_softmax from jax.nn, jax.scipy.special, flax.nnx and flax.linen, and anything from the
    grader package. Log-sum-exp (jax.nn.logsumexp, jax.scipy.special.logsumexp) is allowed.
    """
    # YOUR CODE HERE
    raise NotImplementedError("with m the row maximum, loss = m + log(sum(exp(logits - m))) - logits[i, y_i]; pick the label's logit with take_along_axis.")


def init_params(key, num_inputs=NUM_INPUTS, num_outputs=NUM_OUTPUTS):
    """W ~ N(0, 0.01^2) of shape (num_inputs, num_outputs) and b = 0."""
    return {"W": INIT_STD * jax.random.normal(key, (num_inputs, num_outputs)), "b": jnp.zeros(num_outputs)}


def net(params, X):
    """Logits O = XW + b, with each example flattened to a row of ``num_inputs`` features."""
    return X.reshape(-1, params["W"].shape[0]) @ params["W"] + params["b"]


def apply_module(model, X):
    """``net`` for an nnx model: the model holds its own parameters."""
    return model(X)


def accuracy(y_hat, y):
    """Number of rows whose arg-max of ``y_hat`` equals the label, as a float32 scalar."""
    return jnp.sum(jnp.argmax(y_hat, axis=-1) == jnp.asarray(y)).astype(jnp.float32)


def evaluate_accuracy(net_fn, features, labels, batch_size=EVAL_BATCH_SIZE):
    """Fraction of ``features`` that ``net_fn`` (X -> logits) classifies correctly, in batches."""
    correct = 0.0
    for start in range(0, len(features), batch_size):
        stop = start + batch_size
        correct += float(accuracy(net_fn(features[start:stop]), labels[start:stop]))
    return correct / len(features)


def load_data_digits(batch_size, key):
    """Return ``(train_iter, (X_test, y_test))`` for the digits split.

    ``train_iter(epoch)`` yields that epoch's shuffled minibatches (a fresh order every epoch).
    """
    # data_iter is the linear-regression exercise; importing it here (not at the top) keeps this
    # module importable even when that one is broken.
    from grader.section_script import one_pass

    from .linear_regression import data_iter

    split = load_digits()

    def train_iter(epoch):
        batches = data_iter(batch_size, split.X_train, split.y_train, jax.random.fold_in(key, epoch))
        return one_pass(batches, len(split.X_train), batch_size)

    return train_iter, (split.X_test, split.y_test)


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _updater_step(net, loss, updater, params, X, y):
    """Scratch step: gradient of the loss summed over the minibatch, then ``updater(params, grads, n)``."""
    def summed_loss(params):
        y_hat = net(params, X)
        return loss(y_hat, y).sum(), y_hat

    (total, y_hat), grads = jax.value_and_grad(summed_loss, has_aux=True)(params)
    return updater(params, grads, X.shape[0]), total, accuracy(y_hat, y)


@functools.partial(nnx.jit, static_argnums=(0, 1))
def _optimizer_step(net, loss, model, optimizer, X, y):
    """Concise step: gradient of the mean loss, applied to the nnx model in place by the optimizer."""
    def mean_loss(model):
        y_hat = net(model, X)
        return loss(y_hat, y).mean(), y_hat

    (mean, y_hat), grads = nnx.value_and_grad(mean_loss, has_aux=True)(model)
    optimizer.update(model, grads)
    return model, mean * X.shape[0], accuracy(y_hat, y)


def train_epoch_ch3(net, params, batches, loss, updater):
    """One pass over ``batches``; returns ``(params, mean training loss, training accuracy)``.

    ``net(params, X)`` gives logits and ``loss(logits, y)`` per-example losses. ``updater`` is either
    a function ``(params, grads, batch_size) -> params`` (scratch) or an ``nnx.Optimizer`` over the
    nnx model passed as ``params`` (concise; then ``net`` is ``apply_module``).
    """
    total_loss = total_correct = num_examples = 0.0
    for X, y in batches:
        if isinstance(updater, nnx.Optimizer):
            params, batch_loss, correct = _optimizer_step(net, loss, params, updater, X, y)
        else:
            params, batch_loss, correct = _updater_step(net, loss, updater, params, X, y)
        total_loss += float(batch_loss)
        total_correct += float(correct)
        num_examples += len(y)
    return params, total_loss / num_examples, total_correct / num_examples


def train_ch3(net, params, train_iter, test_data, loss, num_epochs, updater):
    """Train for ``num_epochs``, printing train loss, train accuracy and test accuracy after each.

    ``train_iter(epoch)`` gives the minibatches of one epoch, ``test_data`` is ``(X_test, y_test)``.
    Returns ``(params, history)``; ``history`` maps "train loss", "train acc" and "test acc" to one value
    per epoch (the book's training figure).
    """
    X_test, y_test = test_data
    history = {"train loss": [], "train acc": [], "test acc": []}
    for epoch in range(num_epochs):
        params, train_loss, train_acc = train_epoch_ch3(net, params, train_iter(epoch), loss, updater)
        test_acc = evaluate_accuracy(functools.partial(net, params), X_test, y_test)
        print(f"epoch {epoch + 1}, loss {train_loss:.4f}, train acc {train_acc:.3f}, test acc {test_acc:.3f}")
        for name, value in zip(history, (train_loss, train_acc, test_acc)):
            history[name].append(float(value))
    return params, history


def predict_ch3(net_fn, features, labels, n=10):
    """Print true and predicted labels (with the predicted probability) of the first ``n`` examples."""
    probs = softmax(net_fn(features[:n]))
    print("true:     ", " ".join(f"{int(label):4d}" for label in labels[:n]))
    print("predicted:", " ".join(f"{int(k):4d}" for k in jnp.argmax(probs, axis=-1)))
    print("prob:     ", " ".join(f"{float(p):4.2f}" for p in jnp.max(probs, axis=-1)))


def train_scratch(seed=0, lr=LR, batch_size=BATCH_SIZE, num_epochs=NUM_EPOCHS):
    """Softmax regression from scratch; ``seed`` sets the initial weights and the minibatch order.

    Returns ``(params, history)`` as ``train_ch3`` does.
    """
    # sgd is the linear-regression exercise; imported here so this module imports even when that one is broken.
    from .linear_regression import sgd

    init_key, data_key = jax.random.split(jax.random.key(seed))
    train_iter, test_data = load_data_digits(batch_size, data_key)

    def updater(params, grads, batch_size):
        return sgd(params, grads, lr, batch_size)

    return train_ch3(net, init_params(init_key), train_iter, test_data, cross_entropy, num_epochs, updater)


def train_concise(seed=0, lr=LR, batch_size=BATCH_SIZE, num_epochs=NUM_EPOCHS):
    """Softmax regression as an ``nnx.Linear`` with optax's cross-entropy and ``optax.sgd``.

    Returns ``(model, history)`` as ``train_ch3`` does.
    """
    init_key, data_key = jax.random.split(jax.random.key(seed))
    train_iter, test_data = load_data_digits(batch_size, data_key)
    model = nnx.Linear(NUM_INPUTS, NUM_OUTPUTS, kernel_init=nnx.initializers.normal(INIT_STD),
                       rngs=nnx.Rngs(init_key))
    optimizer = nnx.Optimizer(model, optax.sgd(lr), wrt=nnx.Param)
    return train_ch3(apply_module, model, train_iter, test_data,
                     optax.softmax_cross_entropy_with_integer_labels, num_epochs, optimizer)


def main(plot_to=None):
    """Print the pieces at work and train both versions; with ``plot_to`` (``python -m
    solutions.softmax_regression curves.png``) also save their training curves there."""
    logits = jnp.array([[1.0, 2.0, 3.0], [1e4, -1e4, 0.0]])
    print("logits:\n", np.asarray(logits))
    print("softmax (rows sum to 1):\n", np.asarray(softmax(logits)).round(4))
    print("cross_entropy with labels [2, 0]:", np.asarray(cross_entropy(logits, jnp.array([2, 0]))))
    print("== from scratch")
    params, scratch = train_scratch()
    X_test, y_test = load_digits()[2:4]
    predict_ch3(functools.partial(net, params), X_test, y_test)
    print("== concise (nnx.Linear + optax)")
    _, concise = train_concise()
    if plot_to:
        from grader.reports.figures import save_curves
        print("saved", save_curves(plot_to, "Softmax regression on digits", {
            "scratch": {"training": scratch}, "concise": {"training": concise}}))


if __name__ == "__main__":
    from grader.section_script import run  # a stub of an earlier section, or an endless data_iter, is told in a line

    run(main, *sys.argv[1:2])

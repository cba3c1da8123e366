"""A one-hidden-layer perceptron (64 -> 256 ReLU -> 10) on the digits set: from scratch and as an
``nnx.Module``; both reuse the softmax-regression training loop."""

import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

BATCH_SIZE = 40  # 1,347 training images: 32 would leave a noisy last batch of 3
LR = 0.3
NUM_EPOCHS = 10
NUM_INPUTS = 64
NUM_HIDDENS = 256
NUM_OUTPUTS = 10
INIT_STD = 0.01


def relu(X):
    """Rectified linear unit, elementwise: relu(x) = max(x, 0); same shape and dtype as ``X``.

    Not allowed (they do the exercise for you: this function would score 0): relu and leaky_relu from jax.nn,
    flax.nnx and flax.linen, and anything from the grader package.
    """
    ### HINT: keep positive entries and replace the others by 0, keeping the shape and dtype.
    ### BEGIN SOLUTION
    return jnp.maximum(X, 0)
    ### END SOLUTION


def init_params(key, num_inputs=NUM_INPUTS, num_hiddens=NUM_HIDDENS, num_outputs=NUM_OUTPUTS):
    """Weights ~ N(0, 0.01^2), biases 0, for the layers num_inputs -> num_hiddens -> num_outputs."""
    key1, key2 = jax.random.split(key)
    return {
        "W1": INIT_STD * jax.random.normal(key1, (num_inputs, num_hiddens)),
        "b1": jnp.zeros(num_hiddens),
        "W2": INIT_STD * jax.random.normal(key2, (num_hiddens, num_outputs)),
        "b2": jnp.zeros(num_outputs),
    }


def net(params, X):
    """Logits O = relu(X W1 + b1) W2 + b2, with each example flattened to a row."""
    H = relu(X.reshape(-1, params["W1"].shape[0]) @ params["W1"] + params["b1"])
    return H @ params["W2"] + params["b2"]


class MLP(nnx.Module):
    """The same network with ``nnx.Linear`` layers (weights ~ N(0, 0.01^2), biases 0)."""

    def __init__(self, num_inputs=NUM_INPUTS, num_hiddens=NUM_HIDDENS, num_outputs=NUM_OUTPUTS, *, rngs):
        init = nnx.initializers.normal(INIT_STD)
        self.hidden = nnx.Linear(num_inputs, num_hiddens, kernel_init=init, rngs=rngs)
        self.output = nnx.Linear(num_hiddens, num_outputs, kernel_init=init, rngs=rngs)

    def __call__(self, X):
        return self.output(nnx.relu(self.hidden(X)))


def train_scratch(seed=0, lr=LR, batch_size=BATCH_SIZE, num_epochs=NUM_EPOCHS):
    """Train the scratch MLP with ``sgd`` and ``cross_entropy``; ``seed`` sets the initial weights and
    the minibatch order. Returns ``(params, history)`` as ``train_ch3`` does."""
    # The loss, data loader (built on data_iter), loop and sgd belong to the other exercises; they are
    # imported here, not at the top, so that a broken module elsewhere cannot break importing this one.
    from .linear_regression import sgd
    from .softmax_regression import cross_entropy, load_data_digits, train_ch3

    init_key, data_key = jax.random.split(jax.random.key(seed))
    train_iter, test_data = load_data_digits(batch_size, data_key)

    def updater(params, grads, batch_size):
        return sgd(params, grads, lr, batch_size)

    return train_ch3(net, init_params(init_key), train_iter, test_data, cross_entropy, num_epochs, updater)


def train_concise(seed=0, lr=LR, batch_size=BATCH_SIZE, num_epochs=NUM_EPOCHS):
    """Train ``MLP`` with optax's cross-entropy and ``optax.sgd``.

    Returns ``(model, history)`` as ``train_ch3`` does."""
    # Shared loop and data loader from the softmax-regression exercise (imported here, see train_scratch).
    from .softmax_regression import apply_module, load_data_digits, train_ch3

    init_key, data_key = jax.random.split(jax.random.key(seed))
    train_iter, test_data = load_data_digits(batch_size, data_key)
    model = MLP(rngs=nnx.Rngs(init_key))
    optimizer = nnx.Optimizer(model, optax.sgd(lr), wrt=nnx.Param)
    return train_ch3(apply_module, model, train_iter, test_data,
                     optax.softmax_cross_entropy_with_integer_labels, num_epochs, optimizer)


def main(plot_to=None):
    """Train both versions; with ``plot_to`` (``python -m solutions.mlp curves.png``) save their curves there."""
    x = jnp.arange(-2.0, 3.0)
    print("relu(", np.asarray(x), ") =", np.asarray(relu(x)))
    print(f"== from scratch (lr {LR}, batch {BATCH_SIZE}, {NUM_EPOCHS} epochs)")
    _, scratch = train_scratch()
    print("== concise (nnx.Module + optax.sgd)")
    _, concise = train_concise()
    if plot_to:
        from grader.reports.figures import save_curves
        print("saved", save_curves(plot_to, f"MLP ({NUM_HIDDENS} hidden units) on digits", {
            "scratch": {"training": scratch}, "concise": {"training": concise}}))


if __name__ == "__main__":
    from grader.section_script import run  # a stub of an earlier section, or an endless data_iter, is told in a line

    run(main, *sys.argv[1:2])

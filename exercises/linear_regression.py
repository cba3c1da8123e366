# Generated from solutions/ by `python -m grader.authoring.build`: edit the solutions, not this file.
"""Linear regression on synthetic data: from scratch (minibatch iterator, model, loss, SGD) and concise
(``nnx.Linear`` + ``optax.sgd``)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

TRUE_W = jnp.array([2.0, -3.4])
TRUE_B = 4.2
NUM_EXAMPLES = 1000
BATCH_SIZE = 10
LR = 0.03
NUM_EPOCHS = 3
NOISE_STD = 0.01


def synthetic_data(w, b, num_examples, key):
    """Sample y = Xw + b + eps with X ~ N(0, 1) of shape (num_examples, len(w)) and eps ~ N(0, 0.01^2).

    Returns ``(X, y)`` with ``y`` of shape (num_examples, 1).
    """
    w = jnp.asarray(w)
    key_X, key_noise = jax.random.split(key)
    X = jax.random.normal(key_X, (num_examples, w.shape[0]))
    y = X @ w + b
    y = y + NOISE_STD * jax.random.normal(key_noise, y.shape)
    return X, y.reshape(-1, 1)


def data_iter(batch_size, features, labels, key):
    """Yield shuffled minibatches ``(X, y)`` covering every example exactly once.

    The examples are visited in the order ``jax.random.permutation(key, n)``; every batch has
    ``batch_size`` rows except possibly the last, which holds the remaining ``n mod batch_size`` rows.
    ``features`` and ``labels`` may be NumPy or JAX arrays with the same first dimension ``n``.

    Not allowed (this function would score 0): anything from the grader package.
    """
    # YOUR CODE HERE
    raise NotImplementedError('draw one permutation of range(n) with the key, then index features and labels with consecutive slices of it.')


def linreg(X, w, b):
    """The linear model y_hat = Xw + b."""
    return X @ w + b


def squared_loss(y_hat, y):
    """Per-example squared loss (y_hat - y)^2 / 2, with ``y`` reshaped like ``y_hat``."""
    return (y_hat - y.reshape(y_hat.shape)) ** 2 / 2


def sgd(params, grads, lr, batch_size):
    """One minibatch SGD step on every leaf of a pytree: p <- p - lr * g / batch_size.

    ``grads`` has the structure of ``params`` and holds the gradient of the loss *summed* over the
    minibatch, hence the division by ``batch_size``. Returns a new pytree; nothing is modified in place.

    Not allowed (it does the exercise for you: this function would score 0): optax.sgd, and anything from the
    grader package.
    """
    # YOUR CODE HERE
    raise NotImplementedError('use jax.tree.map over params and grads together to build the updated pytree.')


@jax.jit
def _scratch_step(params, X, y, lr):
    """Gradient of the summed squared loss of one minibatch, followed by ``sgd``."""
    def summed_loss(params):
        return squared_loss(linreg(X, params["w"], params["b"]), y).sum()

    return sgd(params, jax.grad(summed_loss)(params), lr, X.shape[0])


@nnx.jit
def optax_step(state, X, y):
    """Gradient of the mean squared loss of one minibatch, applied by the nnx optimizer in place."""
    model, optimizer = state
    grads = nnx.grad(lambda model: squared_loss(model(X), y).mean())(model)
    optimizer.update(model, grads)
    return state


def _train(step, state, predict, features, labels, key, num_epochs, batch_size):
    """Shared epoch loop: ``state = step(state, X, y)`` for each minibatch of ``data_iter``, then print the
    mean squared loss of ``predict(state, features)`` over the whole data set. A ``data_iter`` that never
    ends a pass stops the run with a message (``one_pass``)."""
    from grader.section_script import one_pass

    for epoch in range(num_epochs):
        epoch_batches = data_iter(batch_size, features, labels, jax.random.fold_in(key, epoch))
        for X, y in one_pass(epoch_batches, len(features), batch_size):
            state = step(state, X, y)
        loss = squared_loss(predict(state, features), labels).mean()
        print(f"epoch {epoch + 1}, loss {float(loss):f}")
    return state


def _print_errors(w, b):
    print("error in estimating w:", np.asarray(TRUE_W - w.reshape(TRUE_W.shape)))
    print("error in estimating b:", np.asarray(TRUE_B - b))


def train_scratch(seed=0, lr=LR, num_epochs=NUM_EPOCHS, batch_size=BATCH_SIZE):
    """Fit y = Xw + b with the hand-written pieces; returns the learnt ``{"w", "b"}``."""
    data_key, init_key, iter_key = jax.random.split(jax.random.key(seed), 3)
    features, labels = synthetic_data(TRUE_W, TRUE_B, NUM_EXAMPLES, data_key)
    params = {"w": 0.01 * jax.random.normal(init_key, (TRUE_W.shape[0], 1)), "b": jnp.zeros(1)}
    params = _train(lambda p, X, y: _scratch_step(p, X, y, lr), params,
                    lambda p, X: linreg(X, p["w"], p["b"]), features, labels, iter_key, num_epochs, batch_size)
    _print_errors(params["w"], params["b"])
    return params


def train_concise(seed=0, lr=LR, num_epochs=NUM_EPOCHS, batch_size=BATCH_SIZE):
    """Fit the same model as an ``nnx.Linear`` trained by ``optax.sgd`` on the mean loss; returns the model."""
    data_key, init_key, iter_key = jax.random.split(jax.random.key(seed), 3)
    features, labels = synthetic_data(TRUE_W, TRUE_B, NUM_EXAMPLES, data_key)
    model = nnx.Linear(TRUE_W.shape[0], 1, kernel_init=nnx.initializers.normal(0.01), rngs=nnx.Rngs(init_key))
    optimizer = nnx.Optimizer(model, optax.sgd(lr), wrt=nnx.Param)
    _train(optax_step, (model, optimizer), lambda state, X: state[0](X),
           features, labels, iter_key, num_epochs, batch_size)
    _print_errors(model.kernel[...], model.bias[...])
    return model


def _generator_demo():
    """A generator computes its items one at a time, when asked; a list holds all of them at once."""
    def squares(n):
        for i in range(n):
            print(f"  (computing {i}^2)")
            yield i * i

    print("list:", [i * i for i in range(3)])
    gen = squares(3)
    print("generator object:", type(gen).__name__, "- nothing computed yet")
    print("first item:", next(gen))
    print("the rest:", list(gen))
    print("exhausted afterwards:", list(gen))


def main():
    print("== generators: yield vs a list")
    _generator_demo()
    print("== the first minibatch of data_iter (batch 10)")
    features, labels = synthetic_data(TRUE_W, TRUE_B, NUM_EXAMPLES, jax.random.key(0))
    X, y = next(data_iter(BATCH_SIZE, features, labels, jax.random.key(1)))
    print("X:", X.shape, "y:", y.shape)
    print("features[0]:", features[0], "label[0]:", labels[0])
    print("== from scratch")
    train_scratch()
    print("== concise (nnx.Linear + optax.sgd)")
    train_concise()


if __name__ == "__main__":
    from grader.section_script import run  # a stub of an earlier section, or an endless data_iter, is told in a line

    run(main)

"""Weight decay on a high-dimensional linear regression (200 inputs, only 20 training examples):
from scratch with an L2 penalty added to the loss, and with optax's ``add_decayed_weights`` (which adds
wd * w to the weights' gradient, the same step for plain SGD).

Data: y = 0.05 + sum_i 0.01 x_i + eps, x ~ N(0, I), eps ~ N(0, 0.01^2).
"""

import sys

import jax
import jax.numpy as jnp
import optax
from flax import nnx

N_TRAIN = 20
N_TEST = 100
NUM_INPUTS = 200
TRUE_W_VALUE = 0.01
TRUE_B = 0.05
BATCH_SIZE = 5
LR = 0.003
NUM_EPOCHS = 100
PRINT_EVERY = 20


def l2_penalty(w):
    """Half the squared L2 norm: ||w||^2 / 2 = sum_i w_i^2 / 2, a scalar.

    Not allowed (it does the exercise for you: this function would score 0): l2_loss from optax and
    optax.losses, and anything from the grader package.
    """
    ### HINT: square every entry, add them all up and halve the total.
    ### BEGIN SOLUTION
    return jnp.sum(w ** 2) / 2
    ### END SOLUTION


def make_data(key):
    """``((X_train, y_train), (X_test, y_test))`` from the model above, with y of shape (n, 1)."""
    # synthetic_data is part of the linear-regression exercise; imported here so this module imports
    # even when that one is broken.
    from .linear_regression import synthetic_data

    true_w = TRUE_W_VALUE * jnp.ones((NUM_INPUTS, 1))
    train_key, test_key = jax.random.split(key)
    return (synthetic_data(true_w, TRUE_B, N_TRAIN, train_key),
            synthetic_data(true_w, TRUE_B, N_TEST, test_key))


def init_params(key):
    """w ~ N(0, 1) of shape (NUM_INPUTS, 1) and b = 0."""
    return {"w": jax.random.normal(key, (NUM_INPUTS, 1)), "b": jnp.zeros(1)}


def _train_loop(step, state, predict, w_of, key):
    """Shared loop: draw the data from ``key``, then ``state = step(state, X, y)`` over minibatches of the
    training set for NUM_EPOCHS, printing mean train / test squared loss every PRINT_EVERY epochs and ||w||
    at the end. Returns ``(train_losses, test_losses, ||w||)``: the losses after every epoch, the norm at the end.
    """
    # The data pipeline and the loss are the linear-regression exercise's (imported here, see make_data).
    from grader.section_script import one_pass

    from .linear_regression import data_iter, squared_loss

    data_key, iter_key = jax.random.split(key)
    (X_train, y_train), (X_test, y_test) = make_data(data_key)
    train_losses, test_losses = [], []
    for epoch in range(NUM_EPOCHS):
        epoch_batches = data_iter(BATCH_SIZE, X_train, y_train, jax.random.fold_in(iter_key, epoch))
        for X, y in one_pass(epoch_batches, len(X_train), BATCH_SIZE):
            state = step(state, X, y)
        train_losses.append(float(squared_loss(predict(state, X_train), y_train).mean()))
        test_losses.append(float(squared_loss(predict(state, X_test), y_test).mean()))
        if (epoch + 1) % PRINT_EVERY == 0:
            print(f"epoch {epoch + 1}, train loss {train_losses[-1]:.6f}, test loss {test_losses[-1]:.6f}")
    w_norm = float(jnp.linalg.norm(w_of(state)))
    print(f"L2 norm of w: {w_norm:.4f}")
    return train_losses, test_losses, w_norm


def train(lambd, key=None):
    """Scratch training on loss + lambd * l2_penalty(w) (b is not penalised) with the scratch ``sgd``.

    ``key`` (default ``jax.random.key(0)``) draws the data, the initial weights and the minibatch order.
    Returns ``(train_losses, test_losses, ||w||)``: the losses after every epoch, the norm at the end.
    """
    # The model, loss and optimiser are the linear-regression exercise's (imported here, see make_data).
    from .linear_regression import linreg, sgd, squared_loss

    loop_key, init_key = jax.random.split(jax.random.key(0) if key is None else key)

    @jax.jit
    def step(params, X, y):
        def objective(params):
            # As in the book the penalty is added to every example's loss; summed over the batch and
            # divided by the batch size in sgd, the step follows grad(mean loss) + lambd * w.
            losses = squared_loss(linreg(X, params["w"], params["b"]), y)
            return (losses + lambd * l2_penalty(params["w"])).sum()

        return sgd(params, jax.grad(objective)(params), LR, X.shape[0])

    print(f"== scratch, lambda = {lambd}")
    return _train_loop(step, init_params(init_key), lambda params, X: linreg(X, params["w"], params["b"]),
                       lambda params: params["w"], loop_key)


def _is_kernel(params):
    """Mask for optax: True on the weight matrices (``kernel``), False on the biases."""
    return jax.tree_util.tree_map_with_path(
        lambda path, _: any(getattr(entry, "key", None) == "kernel" for entry in path), params)


def train_concise(wd, key=None):
    """The same experiment with ``nnx.Linear`` and ``optax.chain(add_decayed_weights(wd, mask), sgd)``:
    the decay wd * w is added to the kernel's gradient only, as the penalty does in ``train``.

    Starts from the same data, weights and minibatch order as ``train(wd, key)``, so the two agree up to
    float rounding. Returns ``(train_losses, test_losses, ||w||)`` as ``train`` does.
    """
    # The concise linear regression's minibatch step; the optimizer adds the decay (imported here, see make_data).
    from .linear_regression import optax_step

    loop_key, init_key = jax.random.split(jax.random.key(0) if key is None else key)
    model = nnx.Linear(NUM_INPUTS, 1, rngs=nnx.Rngs(init_key))
    model.kernel[...] = init_params(init_key)["w"]  # N(0, 1), the very draw train() starts from
    tx = optax.chain(optax.add_decayed_weights(wd, mask=_is_kernel), optax.sgd(LR))
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    print(f"== concise, weight decay = {wd}")
    return _train_loop(optax_step, (model, optimizer), lambda state, X: state[0](X),
                       lambda state: state[0].kernel[...], loop_key)


def main(plot_to=None):
    """Train with λ = 0 and 3, from scratch and concisely; with ``plot_to`` (``python -m
    solutions.weight_decay curves.png``) save the book's train/test loss figure of each λ there."""
    print("l2_penalty([3, 4]) =", float(l2_penalty(jnp.array([3.0, 4.0]))))
    runs = {"scratch": {}, "concise": {}}
    for lambd in (0, 3):
        train_losses, test_losses, _ = train(lambd)
        runs["scratch"][f"λ = {lambd}"] = {"train": train_losses, "test": test_losses}
    for wd in (0, 3):
        train_losses, test_losses, _ = train_concise(wd)
        runs["concise"][f"λ = {wd}"] = {"train": train_losses, "test": test_losses}
    if plot_to:
        from grader.reports.figures import save_curves
        print("saved", save_curves(plot_to, "Weight decay: 200 inputs, 20 training examples", runs,
                                   ylabel="mean squared loss", log=True))


if __name__ == "__main__":
    from grader.section_script import run  # a stub of an earlier section, or an endless data_iter, is told in a line

    run(main, *sys.argv[1:2])

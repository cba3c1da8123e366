"""The trusted training loop used by the training checks.

Students' own training loops are given code they could edit, so grading never runs them: it plugs the
student's parts (``data_iter``, ``sgd``, a loss built from ``cross_entropy`` / ``relu`` / ``l2_penalty``) into
this loop instead. One epoch draws a fresh permutation key, ``fold_in(key, epoch)``, and for each minibatch
(X, y) takes one step of minibatch SGD on the loss summed over the batch:

    params ← sgd(params, ∇ Σ_i ℓ_i(params), lr, |batch|)
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from grader.engine.student_errors import failure_text

# fold_in(key, epoch) as one compiled program: the same key as the eager call, without its dispatch cost each epoch.
_fold_in = jax.jit(jax.random.fold_in)


class TrainingError(RuntimeError):
    """Training could not go on; the text says which part failed and how."""


def _guarded(thunk: Callable, what: str):
    """Run student code; turn any exception (even SystemExit) into a TrainingError naming ``what``."""
    try:
        return thunk()
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        raise TrainingError(failure_text(what, exc)) from exc


class Trained(NamedTuple):
    """The outcome of :func:`minibatch_sgd`."""

    params: Any              # the final parameters
    train_loss: np.ndarray   # (epochs,): mean training loss over each epoch's minibatches
    by_epoch: Any            # the parameters after every epoch: each leaf stacked, shape (epochs, *leaf.shape)
    empty_batches: int = 0   # batches of 0 examples data_iter yielded (sgd then divides by a batch size of 0)


def minibatch_sgd(params: Any, summed_loss: Callable, data_iter: Callable, sgd: Callable, features, labels,
                  batch_size: int, lr: float, num_epochs: int, key) -> Trained:
    """Train ``params``; return them with the mean training loss of each epoch and the parameters after each.

    ``summed_loss(params, X, y)`` is Σ_i ℓ_i over a batch. The step is compiled with ``jax.jit``; if the
    student's parts cannot be traced, the loop runs them eagerly instead (slower, same result).
    """
    n = len(features)
    max_batches = math.ceil(n / batch_size) + 1

    def step(p, X, y):
        loss, grads = jax.value_and_grad(summed_loss)(p, X, y)
        return sgd(p, grads, lr, X.shape[0]), loss

    compiled = jax.jit(step)
    use_jit = True
    epoch_losses, snapshots, empty = [], [], 0
    for epoch in range(num_epochs):
        total, count = 0.0, 0
        batches = _guarded(lambda: iter(data_iter(batch_size, features, labels, _fold_in(key, epoch))),
                           f"data_iter (epoch {epoch + 1})")
        for number in range(max_batches + 1):
            batch = _guarded(lambda: next(batches, None), f"data_iter (epoch {epoch + 1})")
            if batch is None:
                break
            if number == max_batches:
                raise TrainingError(f"data_iter yielded more than {max_batches} batches in one pass over {n} examples")
            X, y = _guarded(lambda: tuple(map(jnp.asarray, batch)), "data_iter's batch (not a pair of arrays)")
            empty += np.shape(X)[:1] == (0,)
            if use_jit:
                try:
                    new_params, loss = compiled(params, X, y)
                except Exception:  # not traceable: run the same step eagerly
                    use_jit = False
            if not use_jit:
                new_params, loss = _guarded(lambda: step(params, X, y), f"a training step (epoch {epoch + 1})")
            params = new_params
            total += float(loss)
            count += int(X.shape[0])
        epoch_losses.append(total / max(count, 1))
        snapshots.append(_guarded(lambda: jax.tree.map(np.asarray, params), "the parameters sgd returned"))
    try:
        by_epoch = jax.tree.map(lambda *leaves: np.stack(leaves), *snapshots) if snapshots else None
    except (ValueError, TypeError) as exc:  # sgd changed the parameters' structure or shapes between epochs
        raise TrainingError(f"the parameters changed structure or shape during training ({exc})") from exc
    return Trained(params, np.asarray(epoch_losses, np.float64), by_epoch, empty)

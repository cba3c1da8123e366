"""Known-wrong (and known-right) implementations of the six student functions.

Each ``Mutant`` swaps one function of the reference for a broken version and states exactly which checks
must fail (all others keep full points) and a phrase the feedback must contain. Each rubric check is the
``expect`` of at least one mutant, so every check is proven able to fail.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

TRAIN_LINREG, TRAIN_SOFTMAX, TRAIN_MLP, TRAIN_WD = (
    "train.linear_regression", "train.softmax_regression", "train.mlp", "train.weight_decay")


@dataclasses.dataclass(frozen=True)
class Mutant:
    name: str
    function: str
    impl: Callable
    expect: frozenset
    says: str


MUTANTS: list[Mutant] = []
CORRECT: list[tuple[str, str, Callable]] = []


def mutant(function: str, expect: set[str], says: str):
    def register(fn):
        MUTANTS.append(Mutant(fn.__name__, function, fn, frozenset(expect), says))
        return fn
    return register


def correct(function: str):
    def register(fn):
        CORRECT.append((fn.__name__, function, fn))
        return fn
    return register


def _order(key, n):
    return np.asarray(jax.random.permutation(key, n))


# --- data_iter ----------------------------------------------------------------------------------------------

@mutant("data_iter", {"data_iter.generator"}, "returns a list")
def data_iter_returns_list(batch_size, features, labels, key):
    idx = _order(key, len(features))
    return [(features[idx[i:i + batch_size]], labels[idx[i:i + batch_size]]) for i in range(0, len(idx), batch_size)]


@mutant("data_iter", {"data_iter.each_example_once"}, "with replacement")
def data_iter_with_replacement(batch_size, features, labels, key):
    n = len(features)
    idx = np.asarray(jax.random.randint(key, (n,), 0, n))
    for i in range(0, n, batch_size):
        yield features[idx[i:i + batch_size]], labels[idx[i:i + batch_size]]


@mutant("data_iter", {"data_iter.pairs_kept", TRAIN_LINREG},
        "no longer match")
def data_iter_shuffles_labels_separately(batch_size, features, labels, key):
    k1, k2 = jax.random.split(key)
    i1, i2 = _order(k1, len(features)), _order(k2, len(features))
    for i in range(0, len(i1), batch_size):
        yield features[i1[i:i + batch_size]], labels[i2[i:i + batch_size]]


@mutant("data_iter", {"data_iter.pairs_kept"}, "shuffled them in place")
def data_iter_shuffles_in_place(batch_size, features, labels, key):
    idx = _order(key, len(features))
    if isinstance(features, np.ndarray):  # a NumPy array can be written: reorder the caller's data
        features[:], labels[:] = features[idx], labels[idx]
        idx = np.arange(len(features))
    for i in range(0, len(idx), batch_size):
        yield features[idx[i:i + batch_size]], labels[idx[i:i + batch_size]]


@mutant("data_iter", {"data_iter.batch_sizes"}, "take batch_size rows")
def data_iter_merges_last_batch(batch_size, features, labels, key):
    idx = _order(key, len(features))
    starts = list(range(0, len(idx), batch_size))
    if len(starts) > 1 and len(idx) % batch_size:
        starts.pop()
    for j, s in enumerate(starts):
        stop = starts[j + 1] if j + 1 < len(starts) else len(idx)
        yield features[idx[s:stop]], labels[idx[s:stop]]


@mutant("data_iter", {"data_iter.batch_sizes", "data_iter.each_example_once"}, "last partial batch")
def data_iter_drops_last_batch(batch_size, features, labels, key):
    idx = _order(key, len(features))
    for i in range(0, len(idx) - batch_size + 1, batch_size):
        yield features[idx[i:i + batch_size]], labels[idx[i:i + batch_size]]


@mutant("data_iter", {"data_iter.key_order"}, "different keys gave the same order")
def data_iter_ignores_key(batch_size, features, labels, key):
    idx = np.random.default_rng(0).permutation(len(features))
    for i in range(0, len(idx), batch_size):
        yield features[idx[i:i + batch_size]], labels[idx[i:i + batch_size]]


@mutant("data_iter", {"data_iter.shuffles_examples"}, "not just the order of fixed batches")
def data_iter_shuffles_batches_only(batch_size, features, labels, key):
    n = len(features)
    full = n // batch_size
    for j in [*_order(key, full), *([full] if n % batch_size else [])]:  # the partial batch stays last
        s = j * batch_size
        yield features[s:s + batch_size], labels[s:s + batch_size]


@mutant("data_iter", {"data_iter.key_order", "data_iter.shuffles_examples"}, "original order")
def data_iter_no_shuffle(batch_size, features, labels, key):
    for i in range(0, len(features), batch_size):
        yield features[i:i + batch_size], labels[i:i + batch_size]


@mutant("data_iter", {"data_iter.batch_sizes", TRAIN_LINREG}, "empty batch")
def data_iter_trailing_empty_batch(batch_size, features, labels, key):
    idx = _order(key, len(features))
    for i in range(len(features) // batch_size + 1):  # one batch too many when batch_size divides n
        j = idx[i * batch_size:(i + 1) * batch_size]
        yield features[j], labels[j]


@mutant("data_iter", {"data_iter.key_order"}, "global random state")
def data_iter_global_numpy_rng(batch_size, features, labels, key):
    idx = np.random.permutation(len(features))
    for i in range(0, len(idx), batch_size):
        yield features[idx[i:i + batch_size]], labels[idx[i:i + batch_size]]


@correct("data_iter")
def data_iter_jnp_take(batch_size, features, labels, key):
    idx = jax.random.permutation(key, len(features))
    for i in range(0, len(features), batch_size):
        j = idx[i:i + batch_size]
        yield jnp.take(jnp.asarray(features), j, axis=0), jnp.take(jnp.asarray(labels), j, axis=0)


@correct("data_iter")
def data_iter_yield_from(batch_size, features, labels, key):
    features, labels = np.asarray(features), np.asarray(labels)
    idx = np.array(jax.random.permutation(key, np.arange(len(features))))
    yield from ((features[idx[i:i + batch_size]], labels[idx[i:i + batch_size]])
                for i in range(0, len(idx), batch_size))


@correct("data_iter")
def data_iter_while_loop(batch_size, features, labels, key):
    n = features.shape[0]
    order = jax.random.permutation(key, n)
    start = 0
    while start < n:
        j = order[start:min(start + batch_size, n)]
        yield features[j], labels[j]
        start += batch_size


@correct("data_iter")
def data_iter_choice_without_replacement(batch_size, features, labels, key):
    n = len(features)
    order = np.asarray(jax.random.choice(key, n, (n,), replace=False))
    for i in range(0, n, batch_size):
        yield np.asarray(features)[order[i:i + batch_size]], np.asarray(labels)[order[i:i + batch_size]]


@correct("data_iter")
def data_iter_numpy_rng_from_key(batch_size, features, labels, key):
    rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).tolist())
    order = rng.permutation(len(features))
    for batch in np.array_split(order, range(batch_size, len(order), batch_size)):
        yield features[batch], labels[batch]


@correct("data_iter")
def data_iter_index_list(batch_size, features, labels, key):
    indices = list(np.asarray(jax.random.permutation(key, len(features))))
    for i in range(0, len(indices), batch_size):
        batch_indices = jnp.array(indices[i: min(i + batch_size, len(indices))])
        yield jnp.asarray(features)[batch_indices], jnp.asarray(labels)[batch_indices]


# --- softmax ------------------------------------------------------------------------------------------------

def _stable(X, axis=-1):
    e = jnp.exp(X - jnp.max(X, axis=axis, keepdims=True))
    return e / jnp.sum(e, axis=axis, keepdims=True)


@mutant("softmax", {"softmax.values", "softmax.last_axis", "softmax.stability.large_logits",
                    "softmax.stability.neg_inf", "softmax.stability.row_scales", "softmax.shift_invariance",
                    "softmax.grad", "softmax.jit"}, "first axis")
def softmax_over_columns(X):
    return _stable(X, axis=0)


@mutant("softmax", {"softmax.last_axis"}, "last axis")
def softmax_axis_one(X):
    return _stable(X, axis=1)


@mutant("softmax", {"softmax.stability.large_logits", "softmax.stability.row_scales"}, "subtract the row max")
def softmax_naive(X):
    e = jnp.exp(X)
    return e / e.sum(axis=-1, keepdims=True)


@mutant("softmax", {"softmax.stability.large_logits", "softmax.stability.row_scales", "softmax.shift_invariance"},
        "each row's own max")
def softmax_global_max(X):
    e = jnp.exp(X - jnp.max(X))
    return e / e.sum(axis=-1, keepdims=True)


@mutant("softmax", {"softmax.stability.neg_inf"}, "-inf entry")
def softmax_zeroes_inf(X):
    return _stable(jnp.where(jnp.isinf(X), 0.0, X))


@mutant("softmax", {"softmax.grad", "softmax.stability.large_logits", "softmax.stability.neg_inf"}, "differentiable")
def softmax_stops_denominator_gradient(X):
    e = jnp.exp(X - jax.lax.stop_gradient(jnp.max(X, axis=-1, keepdims=True)))
    return e / jax.lax.stop_gradient(jnp.sum(e, axis=-1, keepdims=True))


@mutant("softmax", {"softmax.grad", "softmax.stability.large_logits", "softmax.stability.neg_inf", "softmax.jit"},
        "jax.numpy")
def softmax_numpy(X):
    X = np.asarray(X, np.float64)
    e = np.exp(X - X.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


@mutant("softmax", {"softmax.values", "softmax.last_axis", "softmax.stability.large_logits",
                    "softmax.stability.neg_inf", "softmax.stability.row_scales", "softmax.grad", "softmax.jit"},
        "whole array")
def softmax_global_sum(X):
    e = jnp.exp(X - jnp.max(X, axis=-1, keepdims=True))
    return e / jnp.sum(e)


@mutant("softmax", {"softmax.values", "softmax.last_axis", "softmax.stability.large_logits",
                    "softmax.stability.neg_inf", "softmax.stability.row_scales", "softmax.shift_invariance",
                    "softmax.grad", "softmax.jit"}, "keepdims")
def softmax_sum_without_keepdims(X):
    e = jnp.exp(X - jnp.max(X, axis=-1, keepdims=True))
    return e / jnp.sum(e, axis=-1)  # (n,) sums: no broadcast against (n, k) rows unless n == k, and wrong if so


@mutant("softmax", {"softmax.stability.large_logits", "softmax.stability.neg_inf"}, "gradient of log at 0")
def softmax_log_of_ratio(X):
    e = jnp.exp(X - jnp.max(X, axis=-1, keepdims=True))
    return jnp.exp(jnp.log(e) - jnp.log(e.sum(axis=-1, keepdims=True)))  # "in log space, for stability"


@correct("softmax")
def softmax_logsumexp(X):
    return jnp.exp(X - jax.scipy.special.logsumexp(X, axis=-1, keepdims=True))


@correct("softmax")
def softmax_no_stop_gradient(X):
    e = jnp.exp(X - X.max(axis=X.ndim - 1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@mutant("softmax", {"softmax.values", "softmax.last_axis", "softmax.stability.large_logits",
                    "softmax.stability.neg_inf", "softmax.stability.row_scales", "softmax.shift_invariance",
                    "softmax.grad", "softmax.jit"}, "solves the exercise outright")
def softmax_library(X):
    return jax.nn.softmax(X, axis=-1)


@correct("softmax")
def softmax_expand_dims(X):
    e = jnp.exp(X - jnp.amax(X, axis=-1, keepdims=True))
    return e / jnp.expand_dims(e.sum(axis=-1), -1)


@correct("softmax")
def softmax_divide(X):
    shifted = X - jax.lax.stop_gradient(X.max(axis=X.ndim - 1, keepdims=True))
    return jnp.divide(jnp.exp(shifted), jnp.exp(shifted).sum(axis=-1, keepdims=True))


@correct("softmax")
def softmax_log_space(X):
    m = jnp.max(X, axis=-1, keepdims=True)
    log_p = X - m - jnp.log(jnp.sum(jnp.exp(X - m), axis=-1, keepdims=True))
    return jnp.exp(log_p)


@correct("softmax")
def softmax_moveaxis(X):
    Xt = jnp.moveaxis(X, -1, 0)
    e = jnp.exp(Xt - Xt.max(axis=0))
    return jnp.moveaxis(e / e.sum(axis=0), 0, -1)


# --- cross_entropy ------------------------------------------------------------------------------------------

def _lse(logits):
    m = jnp.max(logits, axis=-1, keepdims=True)
    return (m + jnp.log(jnp.sum(jnp.exp(logits - m), axis=-1, keepdims=True)))[..., 0]


def _pick(logits, y):
    return logits[jnp.arange(logits.shape[0]), y]


@mutant("cross_entropy", {"cross_entropy.values", "cross_entropy.stability.large_logits",
                          "cross_entropy.stability.grad", "cross_entropy.grad", "cross_entropy.jit", TRAIN_SOFTMAX},
        "mean over the batch")
def cross_entropy_mean(logits, y):
    return jnp.mean(_lse(logits) - _pick(logits, y))


@mutant("cross_entropy", {"cross_entropy.stability.large_logits", "cross_entropy.stability.grad"}, "log-sum-exp")
def cross_entropy_log_of_softmax(logits, y):
    return -jnp.log(_pick(_stable(logits), y))


@mutant("cross_entropy", {"cross_entropy.stability.large_logits", "cross_entropy.stability.grad"}, "log-sum-exp")
def cross_entropy_unshifted(logits, y):
    return jnp.log(jnp.sum(jnp.exp(logits), axis=-1)) - _pick(logits, y)


@mutant("cross_entropy", {"cross_entropy.stability.large_logits", "cross_entropy.stability.grad",
                          "cross_entropy.shift_invariance"}, "log-sum-exp")
def cross_entropy_global_max(logits, y):
    m = jnp.max(logits)
    return m + jnp.log(jnp.sum(jnp.exp(logits - m), axis=-1)) - _pick(logits, y)


@mutant("cross_entropy", {"cross_entropy.grad", "cross_entropy.stability.grad", TRAIN_SOFTMAX},
        "softmax(logits) - onehot(y)")
def cross_entropy_frozen_normaliser(logits, y):
    return jax.lax.stop_gradient(_lse(logits)) - _pick(logits, y)


@mutant("cross_entropy", {"cross_entropy.jit"}, "jax.jit")
def cross_entropy_numpy_labels(logits, y):
    idx = np.asarray(y)  # needs concrete labels: fails under jax.jit, where y is traced
    return _lse(logits) - logits[np.arange(len(idx)), idx]


@mutant("cross_entropy", {"cross_entropy.values", "cross_entropy.stability.large_logits",
                          "cross_entropy.stability.grad", "cross_entropy.grad", "cross_entropy.jit", TRAIN_SOFTMAX},
        "(n, n)")
def cross_entropy_wrong_indexing(logits, y):
    return _lse(logits)[:, None] - logits[:, y]


@correct("cross_entropy")
def cross_entropy_logsumexp(logits, y):
    return jax.nn.logsumexp(logits, axis=1) - jnp.take_along_axis(logits, y[:, None], axis=1).squeeze(1)


@correct("cross_entropy")
def cross_entropy_one_hot(logits, y):
    log_p = logits - jax.lax.stop_gradient(logits.max(-1, keepdims=True))
    log_p = log_p - jnp.log(jnp.exp(log_p).sum(-1, keepdims=True))
    return -jnp.sum(jax.nn.one_hot(y, logits.shape[-1]) * log_p, axis=-1)


@mutant("cross_entropy", {"cross_entropy.values", "cross_entropy.stability.large_logits",
                          "cross_entropy.stability.grad", "cross_entropy.shift_invariance", "cross_entropy.grad",
                          "cross_entropy.jit", TRAIN_SOFTMAX}, "treats the logits as probabilities")
def cross_entropy_of_probabilities(logits, y):
    return -jnp.log(_pick(logits, y))


@mutant("cross_entropy", {"cross_entropy.values", "cross_entropy.stability.large_logits",
                          "cross_entropy.stability.grad", "cross_entropy.grad", "cross_entropy.jit", TRAIN_SOFTMAX},
        "sign is flipped")
def cross_entropy_sign_flipped(logits, y):
    return _pick(logits, y) - _lse(logits)


@mutant("cross_entropy", {"cross_entropy.values", "cross_entropy.stability.large_logits",
                          "cross_entropy.stability.grad", "cross_entropy.shift_invariance", "cross_entropy.grad",
                          "cross_entropy.jit"}, "solves the exercise outright")
def cross_entropy_library(logits, y):
    return optax.softmax_cross_entropy_with_integer_labels(logits, y)


CE_ALL = {"cross_entropy.values", "cross_entropy.stability.large_logits", "cross_entropy.stability.grad",
          "cross_entropy.shift_invariance", "cross_entropy.grad", "cross_entropy.jit"}


@mutant("cross_entropy", CE_ALL | {TRAIN_SOFTMAX}, "takes logits")
def cross_entropy_book_mean_of_probabilities(logits, y):
    return -jnp.mean(jnp.log(logits[jnp.arange(len(y)), y]))  # the book's loss of probabilities, given logits


@mutant("cross_entropy", CE_ALL | {TRAIN_SOFTMAX}, "batch sum")
def cross_entropy_book_sum_of_probabilities(logits, y):
    return -jnp.sum(jnp.log(logits[jnp.arange(len(y)), y]))


@mutant("cross_entropy", CE_ALL | {TRAIN_SOFTMAX}, "treats the logits as probabilities")
def cross_entropy_book_with_eps(logits, y):
    return -jnp.log(logits[jnp.arange(len(y)), y] + 1e-9)


@mutant("cross_entropy", CE_ALL - {"cross_entropy.shift_invariance"}, "sum over the batch")
def cross_entropy_sum(logits, y):
    return jnp.sum(_lse(logits) - _pick(logits, y))


@mutant("cross_entropy", CE_ALL - {"cross_entropy.shift_invariance"} | {TRAIN_SOFTMAX}, "number of classes")
def cross_entropy_per_class(logits, y):
    return (_lse(logits) - _pick(logits, y)) / logits.shape[-1]


@correct("cross_entropy")
def cross_entropy_scipy_logsumexp(logits, y):
    return jax.scipy.special.logsumexp(logits, axis=-1) - logits[jnp.arange(logits.shape[0]), y]


@correct("cross_entropy")
def cross_entropy_log_softmax_by_hand(logits, y):
    shifted = logits - jnp.max(logits, axis=1, keepdims=True)
    log_probs = shifted - jnp.log(jnp.exp(shifted).sum(axis=1, keepdims=True))
    return -jnp.take_along_axis(log_probs, y.reshape(-1, 1), axis=1).reshape(-1)


@correct("cross_entropy")
def cross_entropy_vmap(logits, y):
    def one(o, label):
        m = o.max()
        return m + jnp.log(jnp.exp(o - m).sum()) - o[label]
    return jax.vmap(one)(logits, y)


@correct("cross_entropy")
def cross_entropy_int_cast(logits, y):
    y = jnp.asarray(y).astype(jnp.int32)
    m = jax.lax.stop_gradient(logits.max(-1))
    return m + jnp.log(jnp.exp(logits - m[:, None]).sum(-1)) - logits[jnp.arange(len(y)), y]


# --- sgd ----------------------------------------------------------------------------------------------------

@mutant("sgd", {"sgd.update", "sgd.any_pytree", "sgd.jit", "sgd.matches_optax", TRAIN_LINREG},
        "divides by the batch size twice")
def sgd_divides_twice(params, grads, lr, batch_size):
    return jax.tree.map(lambda p, g: p - lr * g / batch_size / batch_size, params, grads)


@mutant("sgd", {"sgd.any_pytree"}, "any pytree")
def sgd_dict_only(params, grads, lr, batch_size):
    return {k: params[k] - lr * grads[k] / batch_size for k in params}


@mutant("sgd", {"sgd.no_mutation"}, "changed the params dict")
def sgd_in_place(params, grads, lr, batch_size):
    new = jax.tree.map(lambda p, g: p - lr * g / batch_size, params, grads)
    if isinstance(params, dict):  # "saves memory": writes the new leaves back into the caller's dict
        params.update(new)
        return params
    return new


@mutant("sgd", {"sgd.jit"}, "jax.jit")
def sgd_python_floats(params, grads, lr, batch_size):
    step = float(lr) / int(batch_size)
    return jax.tree.map(lambda p, g: p - step * g, params, grads)


@mutant("sgd", {"sgd.update", "sgd.any_pytree", "sgd.jit", "sgd.matches_optax", TRAIN_LINREG},
        "steps up the gradient")
def sgd_ascends(params, grads, lr, batch_size):
    return jax.tree.map(lambda p, g: p + lr * g / batch_size, params, grads)


@correct("sgd")
def sgd_flatten_unflatten(params, grads, lr, batch_size):
    leaves, treedef = jax.tree.flatten(params)
    return jax.tree.unflatten(treedef, [p - lr * g / batch_size for p, g in zip(leaves, jax.tree.leaves(grads))])


@correct("sgd")
def sgd_tree_util(params, grads, lr, batch_size):
    return jax.tree_util.tree_map(lambda p, g: p - (lr / batch_size) * g, params, grads)


@mutant("sgd", {"sgd.update", "sgd.any_pytree", "sgd.jit", "sgd.matches_optax"}, "does not divide by batch_size")
def sgd_no_divide(params, grads, lr, batch_size):
    return jax.tree.map(lambda p, g: p - lr * g, params, grads)


@mutant("sgd", {"sgd.update", "sgd.any_pytree", "sgd.jit", "sgd.matches_optax", TRAIN_LINREG},
        "returns the step")
def sgd_returns_step(params, grads, lr, batch_size):
    return jax.tree.map(lambda g: -lr * g / batch_size, grads)


@mutant("sgd", {"sgd.update", "sgd.any_pytree", "sgd.jit", "sgd.matches_optax"}, "leaves out the learning rate")
def sgd_no_lr(params, grads, lr, batch_size):
    return jax.tree.map(lambda p, g: p - g / batch_size, params, grads)


@mutant("sgd", {"sgd.update", "sgd.any_pytree", "sgd.jit", "sgd.matches_optax", "sgd.no_mutation"},
        "solves the exercise outright")
def sgd_library(params, grads, lr, batch_size):
    opt = optax.sgd(lr / batch_size)
    updates, _ = opt.update(grads, opt.init(params))
    return optax.apply_updates(params, updates)


@mutant("sgd", {"sgd.no_mutation"}, "changed the parameter arrays")
def sgd_writes_numpy_leaves(params, grads, lr, batch_size):
    def step(p, g):
        if isinstance(p, np.ndarray):  # "NumPy arrays can be updated in place, saving a copy"
            p[...] -= lr * g / batch_size
            return p
        return p - lr * g / batch_size
    return jax.tree.map(step, params, grads)


@correct("sgd")
def sgd_apply_updates(params, grads, lr, batch_size):
    return optax.apply_updates(params, jax.tree.map(lambda g: -lr * g / batch_size, grads))


@correct("sgd")
def sgd_recursive(params, grads, lr, batch_size):
    if isinstance(params, dict):
        return {k: sgd_recursive(params[k], grads[k], lr, batch_size) for k in params}
    if isinstance(params, (list, tuple)):
        return type(params)(sgd_recursive(p, g, lr, batch_size) for p, g in zip(params, grads))
    return params - lr * grads / batch_size


@correct("sgd")
def sgd_precomputed_scale(params, grads, lr, batch_size):
    scale = lr / batch_size

    def update(p, g):
        return p - scale * g
    return jax.tree.map(update, params, grads)


@correct("sgd")
def sgd_leaves_with_path(params, grads, lr, batch_size):
    flat_g = jax.tree.leaves(grads)
    flat_p, treedef = jax.tree_util.tree_flatten(params)
    return treedef.unflatten([p - lr * g / batch_size for p, g in zip(flat_p, flat_g)])


# --- relu ---------------------------------------------------------------------------------------------------

@mutant("relu", {"relu.values", "relu.grad", "relu.jit", TRAIN_MLP}, "|x|")
def relu_abs(X):
    return jnp.abs(X)


@mutant("relu", {"relu.grad", TRAIN_MLP}, "derivative of relu")
def relu_no_gradient(X):
    return jax.lax.stop_gradient(jnp.maximum(X, 0))


@mutant("relu", {"relu.values"}, "dtype")
def relu_bool_times_float64(X):
    return np.asarray(jnp.maximum(X, 0)).astype(np.float64) if not isinstance(X, jax.core.Tracer) else jnp.maximum(X, 0)


@mutant("relu", {"relu.jit", "relu.grad", TRAIN_MLP}, "jax.numpy")
def relu_numpy(X):
    return np.maximum(np.asarray(X), 0)


@correct("relu")
def relu_where(X):
    return jnp.where(X > 0, X, 0)


@correct("relu")
def relu_mask(X):
    return X * (X > 0)


@mutant("relu", {"relu.values", "relu.grad", "relu.jit", TRAIN_MLP}, "keeps the negative entries")
def relu_minimum(X):
    return jnp.minimum(X, 0)


@mutant("relu", {"relu.values", "relu.grad", "relu.jit", TRAIN_MLP}, "returns the mask")
def relu_mask_only(X):
    return X > 0


@mutant("relu", {"relu.values", "relu.grad", "relu.jit"}, "scaled by a slope")
def relu_leaky(X):
    return jnp.where(X > 0, X, 0.01 * X)


@mutant("relu", {"relu.values", "relu.grad", "relu.jit"}, "relu(x) = max(x, 0)")
def relu_clip_both_sides(X):
    return jnp.clip(X, 0, 1)


@mutant("relu", {"relu.values", "relu.grad", "relu.jit"}, "solves the exercise outright")
def relu_library(X):
    return jax.nn.relu(X)


@mutant("relu", {"relu.values"}, "float16")
def relu_float32_zeros(X):
    return jnp.maximum(X, jnp.zeros(X.shape))  # float32 zeros: a float16 input comes back float32


@mutant("relu", {"relu.values", "relu.grad", "relu.jit", TRAIN_MLP}, "int32")
def relu_int_output(X):
    return jnp.maximum(X, 0).astype(int)


@correct("relu")
def relu_maximum_flipped(X):
    return jnp.maximum(0, X)


@correct("relu")
def relu_clip(X):
    return X.clip(min=0)


@correct("relu")
def relu_abs_trick(X):
    return (X + jnp.abs(X)) / 2


@correct("relu")
def relu_zeros_like(X):
    return jnp.maximum(X, jnp.zeros_like(X))


# --- l2_penalty ---------------------------------------------------------------------------------------------

@mutant("l2_penalty", {"l2_penalty.values", "l2_penalty.grad", "l2_penalty.jit"}, "missing the ½")
def l2_missing_half(w):
    return jnp.sum(w ** 2)


@mutant("l2_penalty", {"l2_penalty.values", "l2_penalty.grad", "l2_penalty.jit", TRAIN_WD}, "norm")
def l2_norm(w):
    return jnp.linalg.norm(w)


@mutant("l2_penalty", {"l2_penalty.grad", TRAIN_WD}, "gradient of sum(w ** 2) / 2")
def l2_frozen(w):
    return jax.lax.stop_gradient(jnp.sum(w ** 2) / 2)


@mutant("l2_penalty", {"l2_penalty.jit", "l2_penalty.grad", TRAIN_WD}, "jax.numpy")
def l2_python_float(w):
    return float(np.sum(np.asarray(w) ** 2)) / 2


@correct("l2_penalty")
def l2_dot(w):
    return jnp.vdot(w, w) / 2


@correct("l2_penalty")
def l2_square_sum(w):
    return 0.5 * jnp.square(w).sum()


@mutant("l2_penalty", {"l2_penalty.values", "l2_penalty.grad", "l2_penalty.jit", TRAIN_WD}, "averages over the entries")
def l2_mean(w):
    return jnp.mean(w ** 2) / 2


@mutant("l2_penalty", {"l2_penalty.values", "l2_penalty.grad", "l2_penalty.jit"}, "L1 penalty")
def l2_abs(w):
    return jnp.sum(jnp.abs(w))


@mutant("l2_penalty", {"l2_penalty.values", "l2_penalty.grad", "l2_penalty.jit", TRAIN_WD}, "scalar")
def l2_not_summed(w):
    return w ** 2 / 2


@mutant("l2_penalty", {"l2_penalty.values", "l2_penalty.grad", "l2_penalty.jit"}, "solves the exercise outright")
def l2_library(w):
    return optax.l2_loss(w).sum()


@mutant("l2_penalty", {"l2_penalty.values", "l2_penalty.jit"}, "scalar of shape ()")
def l2_keepdims(w):
    return jnp.sum(w ** 2, keepdims=True) / 2  # shape (1, 1) for a matrix


@mutant("l2_penalty", {"l2_penalty.values", "l2_penalty.jit"}, "scalar of shape ()")
def l2_wrapped(w):
    return jnp.array([jnp.sum(w ** 2) / 2])  # shape (1,)


@correct("l2_penalty")
def l2_times_self(w):
    return jnp.sum(w * w) / 2


@correct("l2_penalty")
def l2_norm_squared(w):
    return jnp.linalg.norm(w) ** 2 / 2


@correct("l2_penalty")
def l2_einsum(w):
    return 0.5 * jnp.einsum("ij,ij->", w.reshape(w.shape[0], -1), w.reshape(w.shape[0], -1))


@correct("l2_penalty")
def l2_tensordot(w):
    return jnp.tensordot(w, w, axes=w.ndim) / 2


# --- errors the feedback locates and explains, shapes it names ------------------------------------------------
# (tests/test_student_lines.py grades them as submission files, where the feedback also names the file and line)

@mutant("data_iter", {"data_iter.each_example_once", "data_iter.pairs_kept",
                      "data_iter.batch_sizes", "data_iter.key_order", "data_iter.shuffles_examples", TRAIN_LINREG},
        ".at[i].set")
def data_iter_shuffles_jax_array(batch_size, features, labels, key):
    idx = jnp.arange(len(features))
    np.random.shuffle(idx)  # a JAX array cannot be shuffled in place
    for i in range(0, len(idx), batch_size):
        yield features[idx[i:i + batch_size]], labels[idx[i:i + batch_size]]


@mutant("sgd", {"sgd.update", "sgd.any_pytree", "sgd.no_mutation", "sgd.jit", "sgd.matches_optax", TRAIN_LINREG},
        "jax.tree.map")
def sgd_float_times_dict(params, grads, lr, batch_size):
    return params - lr * grads / batch_size  # arithmetic on the whole dict


@mutant("relu", {"relu.values", "relu.grad", "relu.jit", TRAIN_MLP}, "reduces X over an axis")
def relu_max_over_axis(X):
    return jnp.max(X, 0)  # the max of X along axis 0, not max(x, 0) for each entry


@mutant("cross_entropy", {"cross_entropy.values", "cross_entropy.stability.large_logits",
                          "cross_entropy.stability.grad", "cross_entropy.shift_invariance", "cross_entropy.grad",
                          "cross_entropy.jit"}, "an (n, 1) term added to an (n,) term")
def cross_entropy_max_kept_sum_dropped(logits, y):
    m = jnp.max(logits, axis=-1, keepdims=True)  # (n, 1)
    return m + jnp.log(jnp.sum(jnp.exp(logits - m), axis=-1)) - _pick(logits, y)  # (n, 1) + (n,): (n, n)

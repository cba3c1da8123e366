"""Checks of ``sgd(params, grads, lr, batch_size)``: one minibatch step for a *summed* loss.

Every leaf becomes p − lr · g / batch_size: the loss summed over a batch has a gradient batch_size times
that of the mean, so the step divides by batch_size once. The result is a new pytree of the same structure.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import inputs
from .common import Observations, ProbeFailed, Verdict, agreement, compare, failed, passed

LR, BATCH = 0.1, 4


def _tree(seed: int, kind: str):
    """Parameter pytrees of several shapes: a dict, a list, a tuple, and a nested mix."""
    a, b, c = inputs.normal(seed, (3, 2)), inputs.normal(seed + 1, (2,)), inputs.normal(seed + 2, ())
    if kind == "dict":
        return {"w": a, "b": b}
    if kind == "list":
        return [a, b]
    if kind == "tuple":
        return (a, b, c)
    return {"layers": [(a, b)], "scale": c}


KINDS = ("dict", "list", "tuple", "nested")


# A least-squares problem for the multi-step check: loss(p) = Σ_i ½ (x_i·w + b − y_i)², summed over a batch.
STEPS_X = inputs.normal(31, (BATCH, 3))
STEPS_Y = inputs.normal(32, (BATCH,))
STEPS_INIT = {"w": inputs.normal(33, (3,)), "b": np.zeros((), np.float32)}
NUM_STEPS = 5


def _summed_loss(p):
    return jnp.sum(0.5 * (jnp.asarray(STEPS_X) @ p["w"] + p["b"] - jnp.asarray(STEPS_Y)) ** 2)


def probe(fns) -> Observations:
    sgd = fns["sgd"]
    obs = Observations()
    for kind in KINDS:
        params, grads = _tree(40, kind), _tree(50, kind)
        to_jax = lambda t: jax.tree.map(jnp.asarray, t)  # noqa: E731
        obs.record_tree(kind, f"sgd on a {kind} of parameters",
                     lambda: sgd(to_jax(params), to_jax(grads), LR, BATCH))

    # Mutation: pass NumPy leaves in a dict; afterwards, were the arrays written to, or the dict changed?
    params, grads = _tree(40, "dict"), _tree(50, "dict")
    originals = dict(params)
    copies = {k: v.copy() for k, v in params.items()}

    def mutated():
        out = sgd(params, grads, LR, BATCH)
        changed_leaf = any(not np.array_equal(originals[k], copies[k]) for k in originals)
        changed_container = set(params) != set(originals) or any(params[k] is not originals[k] for k in originals)
        return np.array([changed_leaf, changed_container, out is params])
    obs.record("mutation", "sgd on a dict of NumPy arrays", mutated)

    obs.record_tree("jit", "jax.jit(sgd)",
                 lambda: jax.jit(sgd)(jax.tree.map(jnp.asarray, _tree(40, "dict")),
                                      jax.tree.map(jnp.asarray, _tree(50, "dict")), LR, BATCH))

    def steps():
        p = jax.tree.map(jnp.asarray, STEPS_INIT)
        path = []
        for _ in range(NUM_STEPS):
            p = sgd(p, jax.grad(_summed_loss)(p), LR, BATCH)
            path.append(np.concatenate([np.ravel(p["w"]), np.ravel(p["b"])]))
        return np.stack(path)
    obs.record("steps", f"{NUM_STEPS} sgd steps on a least-squares loss", steps)
    return obs


def optax_path() -> np.ndarray:
    """The same steps taken by ``optax.sgd(lr / batch_size)`` (optax expects the mean loss's step size)."""
    opt = optax.sgd(LR / BATCH)
    p = jax.tree.map(jnp.asarray, STEPS_INIT)
    state = opt.init(p)
    path = []
    for _ in range(NUM_STEPS):
        updates, state = opt.update(jax.grad(_summed_loss)(p), state, p)
        p = optax.apply_updates(p, updates)
        path.append(np.concatenate([np.ravel(p["w"]), np.ravel(p["b"])]))
    return np.stack(path)


def _step_cause(s: Observations, key: str) -> str:
    """Name the usual step-size mistakes by comparing the student's step with p − lr·g/batch_size."""
    p, g = _tree(40, key), _tree(50, key)
    leaves_p, leaves_g = jax.tree.leaves(p), jax.tree.leaves(g)
    try:
        out = [s[f"{key}.leaf{i}"] for i in range(len(leaves_p))]
    except Exception:
        return ""
    if any(o.shape != lp.shape for o, lp in zip(out, leaves_p)):
        return ""
    step = np.concatenate([(lp - o).ravel() for o, lp in zip(out, leaves_p)]).astype(np.float64)
    grad = np.concatenate([lg.ravel() for lg in leaves_g]).astype(np.float64)
    for factor, cause in (
        (LR / BATCH**2, "it divides by the batch size twice: the step is lr * g / batch_size"),
        (LR, "it does not divide by batch_size: for a summed loss the step is lr * g / batch_size"),
        (-LR / BATCH, "it steps up the gradient: subtract lr * g / batch_size"),
        (1.0 / BATCH, "it leaves out the learning rate: the step is lr * g / batch_size"),
        (LR * BATCH, "it multiplies by batch_size: the step is lr * g / batch_size"),
        (0.0, "it returns the parameters unchanged"),
    ):
        if np.allclose(step, factor * grad, rtol=1e-4, atol=1e-7):
            return cause
    if np.allclose(np.concatenate([o.ravel() for o in out]), -LR / BATCH * grad, rtol=1e-4, atol=1e-7):
        return "it returns the step, not the updated parameters: return p - lr * g / batch_size"
    return "every leaf should become p - lr * g / batch_size"


def _judge_tree(s: Observations, r: Observations, check, key: str, what: str) -> str | None:
    struct = s[f"{key}.structure"]
    if str(struct) != str(r[f"{key}.structure"]):
        return f"{what} returned the structure {struct}, expected {r[f'{key}.structure']}"
    i = 0
    while f"{key}.leaf{i}" in r:
        problem = compare(s[f"{key}.leaf{i}"], r[f"{key}.leaf{i}"], check.rtol, check.atol, f"{what}, leaf {i},")
        if problem:
            return problem
        i += 1
    return None


def judge_update(s: Observations, r: Observations, check) -> Verdict:
    problem = _judge_tree(s, r, check, "dict", "sgd on a dict of parameters")
    if problem is None:
        return passed()
    cause = _step_cause(s, "dict")
    return failed(f"{problem}: {cause}" if cause else problem)


def judge_pytrees(s: Observations, r: Observations, check) -> Verdict:
    for kind in KINDS[1:]:
        try:
            problem = _judge_tree(s, r, check, kind, f"sgd on a {kind} of parameters")
        except ProbeFailed as exc:  # e.g. indexing a list by dict keys
            problem = str(exc)
        if problem:
            return failed(f"{problem}: map over every leaf of any pytree with jax.tree.map(lambda p, g: ..., "
                          "params, grads), which keeps lists, tuples and nesting")
    return passed()


def judge_no_mutation(s: Observations, r: Observations, check) -> Verdict:
    changed_leaf, changed_container, same_object = (bool(v) for v in s["mutation"])
    if changed_leaf:
        return failed("sgd changed the parameter arrays it was given (an in-place `p -= ...`): build new arrays "
                      "with p - lr * g / batch_size")
    if changed_container or same_object:
        return failed("sgd changed the params dict it was given instead of returning a new one: return a new "
                      "pytree, e.g. jax.tree.map(...)")
    return passed()


def judge_jit(s: Observations, r: Observations, check) -> Verdict:
    problem = _judge_tree(s, r, check, "jit", "jax.jit(sgd)")
    if problem is None:
        return passed()
    return failed(f"{problem}: under jax.jit, update with jnp operations and no in-place assignment")


def judge_matches_optax(s: Observations, r: Observations, check) -> Verdict:
    return agreement(s["steps"], optax_path(), check,
                     f"the parameters after {NUM_STEPS} sgd steps, compared with optax.sgd(lr / batch_size),",
                     "each step is p - lr * g / batch_size for a summed loss")

"""Checks of ``sgd(params, grads, lr, batch_size)``: one minibatch step for a *summed* loss.

Every leaf becomes p − lr · g / batch_size: the loss summed over a batch has a gradient batch_size times
that of the mean, so the step divides by batch_size once. The result is a new pytree of the same structure.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from grader.checks import inputs
from grader.checks.common import Observations, ProbeFailed, Verdict, compare, failed, passed, same_cause, same_output

LR, BATCH = 0.1, 4
KINDS = ("dict", "list", "tuple", "nested")
NUM_STEPS = 5


def _tree(leaves: tuple[np.ndarray, np.ndarray, np.ndarray], kind: str):
    """A parameter pytree of one of KINDS: a dict, a list, a tuple, or a nested mix, of (some of) three leaves."""
    a, b, c = leaves
    if kind == "dict":
        return {"w": a, "b": b}
    if kind == "list":
        return [a, b]
    if kind == "tuple":
        return (a, b, c)
    return {"layers": [(a, b)], "scale": c}


def _leaves(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return inputs.normal(seed, (3, 2)), inputs.normal(seed + 1, (2,)), inputs.normal(seed + 2, ())


@dataclasses.dataclass(frozen=True)
class Inputs:
    """What the probe feeds sgd: the public step and pytrees, or a hidden variant's (:func:`hidden`).

    The multi-step problem is least squares, loss(p) = Σ_i ½ (x_i·w + b − y_i)², summed over a batch of
    ``batch`` rows of ``steps_x``."""

    lr: float
    batch: int
    params: tuple[np.ndarray, np.ndarray, np.ndarray]
    grads: tuple[np.ndarray, np.ndarray, np.ndarray]
    steps_x: np.ndarray
    steps_y: np.ndarray
    steps_w: np.ndarray

    def tree(self, which: str, kind: str):
        return _tree(self.params if which == "params" else self.grads, kind)

    def summed_loss(self, p):
        return jnp.sum(0.5 * (jnp.asarray(self.steps_x) @ p["w"] + p["b"] - jnp.asarray(self.steps_y)) ** 2)

    def start(self):
        return {"w": jnp.asarray(self.steps_w), "b": jnp.zeros((), jnp.float32)}


PUBLIC = Inputs(LR, BATCH, _leaves(40), _leaves(50), inputs.normal(31, (BATCH, 3)), inputs.normal(32, (BATCH,)),
                inputs.normal(33, (3,)))


def hidden(seed: int) -> Inputs:
    """The hidden variant's inputs: another learning rate, batch size, leaf shapes and least-squares problem."""
    h = inputs.Hidden(seed)
    shapes = ((h.size(1, 6), h.size(1, 6)), (h.size(1, 8),), ())
    batch, dim = h.size(2, 64), h.size(2, 6)
    return Inputs(lr=round(h.uniform(0.01, 0.5), 3), batch=batch, params=tuple(h.normal(s) for s in shapes),
                  grads=tuple(h.normal(s) for s in shapes), steps_x=h.normal((batch, dim), 1.0 / np.sqrt(batch)),
                  steps_y=h.normal((batch,)), steps_w=h.normal((dim,)))


def probe(fns, seed: int | None = None) -> Observations:
    """The public probe, or with ``seed`` the hidden variant's."""
    sgd = fns["sgd"]
    x = PUBLIC if seed is None else hidden(seed)
    lr, batch = x.lr, x.batch
    obs = Observations()
    to_jax = lambda t: jax.tree.map(jnp.asarray, t)  # noqa: E731
    for kind in KINDS:
        params, grads = x.tree("params", kind), x.tree("grads", kind)
        obs.record_tree(kind, f"sgd on a {kind} of parameters", lambda: sgd(to_jax(params), to_jax(grads), lr, batch))

    # Mutation: pass NumPy leaves in a dict; afterwards, were the arrays written to, or the dict changed?
    params, grads = x.tree("params", "dict"), x.tree("grads", "dict")
    params, grads = ({k: v.copy() for k, v in t.items()} for t in (params, grads))
    originals = dict(params)
    copies = {k: v.copy() for k, v in params.items()}

    def mutated():
        out = sgd(params, grads, lr, batch)
        changed_leaf = any(not np.array_equal(originals[k], copies[k]) for k in originals)
        changed_container = set(params) != set(originals) or any(params[k] is not originals[k] for k in originals)
        return np.array([changed_leaf, changed_container, out is params])
    obs.record("no_mutation", "sgd on a dict of NumPy arrays", mutated)

    obs.record_tree("jit", "jax.jit(sgd)", lambda: jax.jit(sgd)(to_jax(x.tree("params", "dict")),
                                                                to_jax(x.tree("grads", "dict")), lr, batch))
    obs.record("matches_optax", f"{NUM_STEPS} sgd steps on a least-squares loss",
               lambda: _path(lambda p, g: sgd(p, g, lr, batch), x, whole_tree=True))
    return obs


def _path(update, x: Inputs = PUBLIC, whole_tree: bool = False) -> np.ndarray:
    """The parameters after each of NUM_STEPS steps ``p <- update(p, g)`` on the least-squares loss: the update
    takes the whole pytree with ``whole_tree``, else one leaf at a time."""
    p = x.start()
    path = []
    for _ in range(NUM_STEPS):
        g = jax.grad(x.summed_loss)(p)
        p = update(p, g) if whole_tree else jax.tree.map(update, p, g)
        path.append(np.concatenate([np.ravel(p["w"]), np.ravel(p["b"])]))
    return np.stack(path)


@functools.lru_cache(maxsize=4)
def optax_path(seed: int | None = None) -> np.ndarray:
    """The same steps taken by ``optax.sgd(lr / batch_size)`` (optax expects the mean loss's step size), on the
    public problem or a hidden variant's; computed once per process."""
    x = PUBLIC if seed is None else hidden(seed)
    opt = optax.sgd(x.lr / x.batch)
    p = x.start()
    state = opt.init(p)
    path = []
    for _ in range(NUM_STEPS):
        updates, state = opt.update(jax.grad(x.summed_loss)(p), state, p)
        p = optax.apply_updates(p, updates)
        path.append(np.concatenate([np.ravel(p["w"]), np.ravel(p["b"])]))
    path = np.stack(path)
    path.flags.writeable = False
    return path


# The usual wrong steps, each a leaf update (p, g) -> new p, and the feedback that names it.
WRONG_STEPS = (
    (lambda p, g: p - LR * g / BATCH**2, "it divides by the batch size twice: the step is lr * g / batch_size"),
    (lambda p, g: p - LR * g, "it does not divide by batch_size: for a summed loss the step is lr * g / batch_size"),
    (lambda p, g: p + LR * g / BATCH, "it steps up the gradient: subtract lr * g / batch_size"),
    (lambda p, g: p - g / BATCH, "it leaves out the learning rate: the step is lr * g / batch_size"),
    (lambda p, g: p - LR * BATCH * g, "it multiplies by batch_size: the step is lr * g / batch_size"),
    (lambda p, g: p + 0 * g, "it returns the parameters unchanged"),
    (lambda p, g: -LR * g / BATCH, "it returns the step, not the updated parameters: return p - lr * g / batch_size"),
)


def _wrong_step(s: Observations, key: str, kind: str) -> str | None:
    """The cause among WRONG_STEPS that reproduces the student's leaves under ``key`` (sgd on ``_tree(·, kind)``)."""
    params, grads = jax.tree.leaves(PUBLIC.tree("params", kind)), jax.tree.leaves(PUBLIC.tree("grads", kind))
    if not all(f"{key}.leaf{i}" in s for i in range(len(params))):
        return None
    out = [s[f"{key}.leaf{i}"] for i in range(len(params))]
    for update, cause in WRONG_STEPS:
        if all(same_output(o, update(p.astype(np.float64), g.astype(np.float64)), atol=1e-7)
               for o, p, g in zip(out, params, grads)):
            return cause
    return None


def _same_cause(cause: str | None, s: Observations) -> str | None:
    """``cause``, said to be sgd.update's when the dict step shows the same one."""
    if cause is not None and cause == _wrong_step(s, "dict", "dict"):
        return same_cause("sgd.update", cause)
    return cause


def leaf_names(kind: str, name: str = "params") -> list[str]:
    """The leaves of a ``kind`` pytree as a student indexes them, in flattening order: ``params['w']``,
    ``params[0]``, ``params['layers'][0][1]`` (the structure is the same for the public and hidden inputs)."""
    paths, _ = jax.tree_util.tree_flatten_with_path(_tree(PUBLIC.params, kind))
    return [name + jax.tree_util.keystr(path) for path, _ in paths]


def _judge_tree(s: Observations, r: Observations, check, key: str, what: str) -> str | None:
    struct = s[f"{key}.structure"]
    if str(struct) != str(r[f"{key}.structure"]):
        return f"{what} returned the structure {struct}, expected {r[f'{key}.structure']}"
    names = leaf_names(key if key in KINDS else "dict")
    i = 0
    while f"{key}.leaf{i}" in r:
        leaf = names[i] if i < len(names) else f"leaf {i}"
        problem = compare(s[f"{key}.leaf{i}"], r[f"{key}.leaf{i}"], check.rtol, check.atol, f"{what}, {leaf},")
        if problem:
            return problem
        i += 1
    return None


EVERY_LEAF = ("map over every leaf of any pytree with jax.tree.map(lambda p, g: ..., params, grads), which keeps "
              "lists, tuples and nesting")
EVERY_STEP = "every leaf should become p - lr * g / batch_size"


def judge_update(s: Observations, r: Observations, check) -> Verdict:
    problem = _judge_tree(s, r, check, "dict", "sgd on a dict of parameters")
    if problem is None:
        return passed()
    return failed(f"{problem}: {_wrong_step(s, 'dict', 'dict') or EVERY_STEP}")


def judge_any_pytree(s: Observations, r: Observations, check) -> Verdict:
    """Lists, tuples and nested pytrees. A failure on them alone (the dict works) is a dict-only implementation;
    a wrong step names its cause, and sgd.update's when the dict shows the same one."""
    for kind in KINDS[1:]:
        what = f"sgd on a {kind} of parameters"
        try:
            problem = _judge_tree(s, r, check, kind, what)
        except ProbeFailed as exc:  # e.g. indexing a list by dict keys
            if "dict.structure" not in s or f"{kind}.structure" in s:  # the dict failed too, or a leaf was
                raise                                                  # refused: the failure says it all
            return failed(f"{str(exc).rstrip('.')}; sgd on a dict of parameters works, so the code handles dicts "
                          f"only: {EVERY_LEAF}")
        if problem is None:
            continue
        if problem.startswith(f"{what} returned the structure"):
            return failed(f"{problem}: {EVERY_LEAF}")
        return failed(f"{problem}: {_same_cause(_wrong_step(s, kind, kind), s) or EVERY_STEP}")
    return passed()


def judge_no_mutation(s: Observations, r: Observations, check) -> Verdict:
    changed_leaf, changed_container, same_object = (bool(v) for v in s["no_mutation"])
    if changed_leaf:
        return failed("sgd changed the parameter arrays it was given (an in-place write such as `p -= ...` or "
                      "`p[...] -= ...`): build new arrays with p - lr * g / batch_size")
    if changed_container or same_object:
        return failed("sgd changed the params dict it was given instead of returning a new one: return a new "
                      "pytree, e.g. jax.tree.map(...)")
    return passed()


def judge_jit(s: Observations, r: Observations, check) -> Verdict:
    problem = _judge_tree(s, r, check, "jit", "jax.jit(sgd)")
    if problem is None:
        return passed()
    leaves = range(len(jax.tree.leaves(PUBLIC.tree("params", "dict"))))
    same = all(f"{k}.leaf{i}" in s for k in ("jit", "dict") for i in leaves) and all(
        same_output(s[f"jit.leaf{i}"], s[f"dict.leaf{i}"], check.rtol, check.atol) for i in leaves)
    if not same:
        return failed(f"{problem}, and sgd without jit gives a different result: under jax.jit the update must "
                      "depend only on its arguments, through jnp operations (no NumPy conversions or Python state)")
    return failed(f"{problem}, the same result as sgd without jit, so jit works: "
                  f"{same_cause('sgd.update', _wrong_step(s, 'dict', 'dict'))}")


def judge_matches_optax(s: Observations, r: Observations, check) -> Verdict:
    what = f"the parameters after {NUM_STEPS} sgd steps, compared with optax.sgd(lr / batch_size),"
    problem = compare(s["matches_optax"], optax_path(check.seed), check.rtol, check.atol, what)
    if problem is None:
        return passed()
    cause = next((c for update, c in WRONG_STEPS if same_output(s["matches_optax"], _path(update), atol=1e-6)), None)
    return failed(f"{problem}: {_same_cause(cause, s) or 'each step is p - lr * g / batch_size for a summed loss'}")

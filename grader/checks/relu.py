"""Checks of ``relu(X)``: relu(x) = max(x, 0) elementwise, with derivative 1 for x > 0 and 0 for x < 0.

At exactly x = 0 the function has no derivative; any subgradient in [0, 1] is accepted
(``jax.grad`` of ``jnp.maximum(x, 0)`` gives 0.5 there, ``jnp.where(x > 0, x, 0)`` gives 0).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from . import inputs
from .common import Observations, Verdict, agreement, compare, failed, passed


def _with_zeros() -> np.ndarray:
    x = inputs.normal(61, (3, 4, 5))
    x.flat[::7] = 0.0
    return x


VALUES_X = _with_zeros()
GRAD_X = inputs.normal(62, (4, 6))  # no exact zeros: the derivative is 0 or 1 everywhere
GRAD_W = inputs.normal(63, (4, 6))
ZEROS = np.zeros((5,), np.float32)


def probe(fns) -> Observations:
    relu = fns["relu"]
    obs = Observations()
    obs.record("values", "relu of a (3, 4, 5) float32 array", lambda: relu(jnp.asarray(VALUES_X)))
    obs.record("grad", "jax.grad of sum(relu(X) * W)",
               lambda: jax.grad(lambda x: jnp.sum(relu(x) * jnp.asarray(GRAD_W)))(jnp.asarray(GRAD_X)))
    obs.record("grad_at_zero", "jax.grad of sum(relu(x)) at x = 0",
               lambda: jax.grad(lambda x: jnp.sum(relu(x)))(jnp.asarray(ZEROS)))
    obs.record("jit", "jax.jit(relu)", lambda: jax.jit(relu)(jnp.asarray(VALUES_X)))
    return obs


def _cause(out: np.ndarray) -> str:
    X = VALUES_X
    if out.shape == X.shape:
        if np.allclose(out, np.abs(X)):
            return "it returns |x|: negative entries must become 0"
        if np.allclose(out, np.minimum(X, 0)):
            return "it keeps the negative entries: relu(x) = max(x, 0)"
        if np.array_equal(out.astype(bool), X > 0) and out.dtype == np.bool_:
            return "it returns the mask x > 0: multiply it by x, or use jnp.maximum(x, 0)"
    return "relu(x) = max(x, 0) elementwise, with the input's shape"


def judge_values(s: Observations, r: Observations, check) -> Verdict:
    out = s["values"]
    problem = compare(out, r["values"], check.rtol, check.atol, "relu of a (3, 4, 5) array")
    if problem is not None:
        return failed(f"{problem}: {_cause(np.asarray(out))}")
    if out.dtype != r["values"].dtype:
        return failed(f"relu of a float32 array returned {out.dtype}: keep the input's dtype "
                      "(compare with 0, a Python number, not a float64 or integer array)")
    return passed()


def judge_grad(s: Observations, r: Observations, check) -> Verdict:
    problem = compare(s["grad"], r["grad"], check.rtol, check.atol, "jax.grad of sum(relu(X) * W)")
    if problem is not None:
        return failed(f"{problem}: the derivative of relu is 1 where x > 0 and 0 where x < 0; build relu from "
                      "jnp.maximum or jnp.where so JAX can differentiate it")
    g0 = s["grad_at_zero"]
    if g0.shape != ZEROS.shape or not np.all((g0 >= 0) & (g0 <= 1)):
        return failed(f"jax.grad of relu at exactly 0 gave {np.ravel(g0)[:3]}: a subgradient must lie in [0, 1]")
    return passed()


def judge_jit(s: Observations, r: Observations, check) -> Verdict:
    return agreement(s["jit"], r["values"], check, "jax.jit(relu)",
                     "under jax.jit, use jnp.maximum or jnp.where rather than Python `if` on values")

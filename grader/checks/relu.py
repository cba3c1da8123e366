"""Checks of ``relu(X)``: relu(x) = max(x, 0) elementwise, with derivative 1 for x > 0 and 0 for x < 0.

At exactly x = 0 the function has no derivative; any subgradient in [0, 1] is accepted
(``jax.grad`` of ``jnp.maximum(x, 0)`` gives 0.5 there, ``jnp.where(x > 0, x, 0)`` gives 0). The output keeps
the input's shape and dtype (float32 and float16 are probed). relu of NaN is not judged: ``jnp.maximum``
propagates it, ``jnp.where(x > 0, x, 0)`` gives 0, and both are accepted.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from . import inputs
from .common import KnownMistakes, Mistake, Observations, Verdict, failed, jit_verdict, judged, observe_calls, passed


def _with_zeros() -> np.ndarray:
    x = inputs.normal(61, (3, 4, 5))
    x.flat[::7] = 0.0
    return x


VALUES_X = _with_zeros()
HALF_X = inputs.normal(64, (4, 5)).astype(np.float16)
GRAD_X = inputs.normal(62, (4, 6))  # no exact zeros: the derivative is 0 or 1 everywhere
GRAD_W = inputs.normal(63, (4, 6))
ZEROS = np.zeros((5,), np.float32)


def calls(relu) -> dict:
    """The probe's calls of ``relu``: ``{key: (what, thunk)}``."""
    return {
        "values": ("relu of a (3, 4, 5) float32 array", lambda: relu(jnp.asarray(VALUES_X))),
        "half": ("relu of a (4, 5) float16 array", lambda: relu(jnp.asarray(HALF_X))),
        "grad": ("jax.grad of sum(relu(X) * W)",
                 lambda: jax.grad(lambda x: jnp.sum(relu(x) * jnp.asarray(GRAD_W)))(jnp.asarray(GRAD_X))),
        "grad_at_zero": ("jax.grad of sum(relu(x)) at x = 0",
                         lambda: jax.grad(lambda x: jnp.sum(relu(x)))(jnp.asarray(ZEROS))),
        "jit": ("jax.jit(relu)", lambda: jax.jit(relu)(jnp.asarray(VALUES_X))),
    }


def probe(fns) -> Observations:
    return observe_calls(calls(fns["relu"]))


def _leaky(slope: float) -> Mistake:
    return Mistake(lambda x: jnp.where(x > 0, x, slope * x),
                   f"negative entries are scaled by a slope ({slope:g}) instead of set to 0: relu is max(x, 0)")


MISTAKES = (
    Mistake(jnp.abs, "it returns |x|: negative entries must become 0"),
    Mistake(lambda x: jnp.minimum(x, 0), "it keeps the negative entries: relu(x) = max(x, 0)"),
    Mistake(lambda x: x > 0, "it returns the mask x > 0: multiply it by x, or use jnp.maximum(x, 0)"),
    Mistake(lambda x: jnp.clip(x, 0, 1), "it also caps the values at 1: relu(x) = max(x, 0) has no upper bound"),
    Mistake(lambda x: jnp.maximum(x, 0).astype(jnp.int32),
            "it returns int32 for float input, which truncates the values: keep the input's dtype (no astype(int))"),
    *(_leaky(slope) for slope in (0.01, 0.02, 0.05, 0.1, 0.2, 0.3)),
    Mistake(lambda x: jax.lax.stop_gradient(jnp.maximum(x, 0)),
            "its gradient is 0 everywhere, while the derivative of relu is 1 where x > 0: relu is held constant for "
            "autodiff (stop_gradient, or values computed outside jax.numpy); build it from jnp.maximum or jnp.where"),
)
CHECKS = (("relu.values", ("values", "half")), ("relu.grad", ("grad", "grad_at_zero")), ("relu.jit", ("jit",)))
KNOWN = KnownMistakes(calls, CHECKS, MISTAKES)


def judge_values(s: Observations, r: Observations, check) -> Verdict:
    """max(x, 0) on float32 and float16 arrays, in the input's dtype."""
    for key, dtype in (("values", "float32"), ("half", "float16")):
        verdict = judged(s, r, check, key, f"relu of a {dtype} array", KNOWN,
                         "relu(x) = max(x, 0) elementwise, with the input's shape")
        if not verdict.passed:
            return verdict
        out = s[key]
        if out.dtype != r[key].dtype:
            return failed(f"relu of a {dtype} array returned {out.dtype}: keep the input's dtype (compare with 0, "
                          "a Python number, or jnp.zeros_like(x), not a float32, float64 or integer array)")
    return passed()


def judge_grad(s: Observations, r: Observations, check) -> Verdict:
    verdict = judged(s, r, check, "grad", "jax.grad of sum(relu(X) * W)", KNOWN,
                     "the derivative of relu is 1 where x > 0 and 0 where x < 0; build relu from jnp.maximum or "
                     "jnp.where so JAX can differentiate it")
    if not verdict.passed:
        return verdict
    g0 = s["grad_at_zero"]
    if g0.shape != ZEROS.shape or not np.all((g0 >= 0) & (g0 <= 1)):
        return failed(f"jax.grad of relu at exactly 0 gave {np.ravel(g0)[:3]}: a subgradient must lie in [0, 1]")
    return passed()


def judge_jit(s: Observations, r: Observations, check) -> Verdict:
    return jit_verdict(s, r, check, "relu", "relu.values", lambda: KNOWN.explain(s, r, "values"))

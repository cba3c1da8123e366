"""Checks of ``relu(X)``: relu(x) = max(x, 0) elementwise, with derivative 1 for x > 0 and 0 for x < 0.

At exactly x = 0 the function has no derivative; any subgradient in [0, 1] is accepted
(``jax.grad`` of ``jnp.maximum(x, 0)`` gives 0.5 there, ``jnp.where(x > 0, x, 0)`` gives 0). The output keeps
the input's shape and dtype (float32 and float16 are probed). relu of NaN is not judged: ``jnp.maximum``
propagates it, ``jnp.where(x > 0, x, 0)`` gives 0, and both are accepted.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from grader.checks import inputs
from grader.checks.common import (
    KnownMistakes,
    Mistake,
    Observations,
    Verdict,
    failed,
    jit_verdict,
    judged,
    observe_calls,
    passed,
)


def _with_zeros(x: np.ndarray) -> np.ndarray:
    x = x.copy()
    x.flat[::7] = 0.0
    return x


VALUES_X = _with_zeros(inputs.normal(61, (3, 4, 5)))
HALF_X = inputs.normal(64, (4, 5)).astype(np.float16)
GRAD_X = inputs.normal(62, (4, 6))  # no exact zeros: the derivative is 0 or 1 everywhere
GRAD_W = inputs.normal(63, (4, 6))
ZEROS = np.zeros((5,), np.float32)


@dataclasses.dataclass(frozen=True)
class Inputs:
    """What the probe feeds relu: the public arrays, or a hidden variant's (:func:`hidden`)."""

    values: np.ndarray
    half: np.ndarray
    grad_x: np.ndarray
    grad_w: np.ndarray
    zeros: np.ndarray


PUBLIC = Inputs(VALUES_X, HALF_X, GRAD_X, GRAD_W, ZEROS)


def hidden(seed: int) -> Inputs:
    """The hidden variant's inputs: the same kinds as :data:`PUBLIC`, other shapes and values."""
    h = inputs.Hidden(seed)
    grad_x = h.matrix()
    return Inputs(values=_with_zeros(h.normal((h.size(2, 4), h.size(2, 6), h.size(3, 7)), 3.0)),
                  half=h.matrix().astype(np.float16), grad_x=grad_x, grad_w=h.normal(grad_x.shape),
                  zeros=np.zeros((h.size(2, 9),), np.float32))


def calls(relu, x: Inputs = PUBLIC) -> dict:
    """The probe's calls of ``relu``: ``{key: (what, thunk)}``."""
    return {
        "values": ("relu of a (3, 4, 5) float32 array", lambda: relu(jnp.asarray(x.values))),
        "half": ("relu of a (4, 5) float16 array", lambda: relu(jnp.asarray(x.half))),
        "grad": ("jax.grad of sum(relu(X) * W)",
                 lambda: jax.grad(lambda v: jnp.sum(relu(v) * jnp.asarray(x.grad_w)))(jnp.asarray(x.grad_x))),
        "grad_at_zero": ("jax.grad of sum(relu(x)) at x = 0",
                         lambda: jax.grad(lambda v: jnp.sum(relu(v)))(jnp.asarray(x.zeros))),
        "jit": ("jax.jit(relu)", lambda: jax.jit(relu)(jnp.asarray(x.values))),
    }


def probe(fns, seed: int | None = None) -> Observations:
    """The public probe, or with ``seed`` the hidden variant's."""
    return observe_calls(calls(fns["relu"], PUBLIC if seed is None else hidden(seed)))


def _leaky(slope: float) -> Mistake:
    return Mistake(lambda x: jnp.where(x > 0, x, slope * x),
                   f"negative entries are scaled by a slope ({slope:g}) instead of set to 0: relu is max(x, 0)")


REDUCED = ("it reduces X over an axis instead of comparing each entry with 0 (jnp.max(X, 0) is the max along axis 0, "
           "of shape X.shape[1:]): relu is elementwise, jnp.maximum(X, 0), and keeps the input's shape")


def reduced_shape(shape: tuple, full: tuple) -> bool:
    """Whether ``shape`` is ``full`` with an axis reduced away (or kept as 1 by keepdims), or a scalar."""
    shape, full = tuple(shape), tuple(full)
    if shape == full:
        return False
    if shape == ():
        return True
    if len(shape) == len(full) - 1:
        return any(full[:i] + full[i + 1:] == shape for i in range(len(full)))
    return len(shape) == len(full) and all(a == b or a == 1 for a, b in zip(shape, full))


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
    Mistake(lambda x: jnp.max(x, 0), REDUCED),
)
CHECKS = (("relu.values", ("values", "half")), ("relu.grad", ("grad", "grad_at_zero")), ("relu.jit", ("jit",)))
KNOWN = KnownMistakes(calls, CHECKS, MISTAKES)


def judge_values(s: Observations, r: Observations, check) -> Verdict:
    """max(x, 0) on float32 and float16 arrays, in the input's dtype."""
    for key, dtype in (("values", "float32"), ("half", "float16")):
        advice = "relu(x) = max(x, 0) elementwise, with the input's shape"
        if key in s and reduced_shape(np.shape(s[key]), np.shape(r[key])):
            advice = REDUCED
        verdict = judged(s, r, check, key, f"relu of a {dtype} array", KNOWN, advice)
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
    if g0.shape != r["grad_at_zero"].shape or not np.all((g0 >= 0) & (g0 <= 1)):
        return failed(f"jax.grad of relu at exactly 0 gave {np.ravel(g0)[:3]}: a subgradient must lie in [0, 1]")
    return passed()


def judge_jit(s: Observations, r: Observations, check) -> Verdict:
    return jit_verdict(s, r, check, "relu", "relu.values", lambda: KNOWN.explain(s, r, "values"))

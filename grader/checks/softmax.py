"""Checks of ``softmax(X)``: softmax(X)_j = exp(X_j) / Σ_k exp(X_k) over the last axis.

Stable form: with m = max_k X_k per row, softmax(X)_j = exp(X_j − m) / Σ_k exp(X_k − m), which never
overflows, keeps rows of any scale, and gives exp(−inf − m) = 0 for masked entries.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from . import inputs
from .common import (Observations, Verdict, agreement, compare, failed, nonfinite_summary, passed,
                     shift_invariance)

VALUES_X = inputs.normal(1, (8, 5), scale=2.0)
CUBE_X = inputs.normal(2, (2, 3, 4), scale=2.0)
GRAD_X = inputs.normal(3, (6, 4))
GRAD_W = inputs.normal(4, (6, 4))


def probe(fns) -> Observations:
    softmax = fns["softmax"]
    obs = Observations()
    obs.record("values", "softmax of an (8, 5) array", lambda: softmax(jnp.asarray(VALUES_X)))
    obs.record("cube", "softmax of a (2, 3, 4) array", lambda: softmax(jnp.asarray(CUBE_X)))
    obs.record("large", "softmax of logits of ±1e4", lambda: softmax(jnp.asarray(inputs.LARGE_LOGITS)))
    obs.record("large_grad", "jax.grad of softmax at logits of ±1e4",
               lambda: jax.grad(lambda x: jnp.sum(softmax(x) * jnp.asarray(GRAD_W[:4])))(
                   jnp.asarray(inputs.LARGE_LOGITS)))
    obs.record("masked", "softmax of rows mixing -inf with finite entries",
               lambda: softmax(jnp.asarray(inputs.MASKED_LOGITS)))
    obs.record("scales", "softmax of rows of very different scales",
               lambda: softmax(jnp.asarray(inputs.scaled_rows())))
    obs.record("shifted", "softmax of the (8, 5) array plus a constant per row",
               lambda: softmax(jnp.asarray(VALUES_X + inputs.ROW_SHIFTS)))
    obs.record("grad", "jax.grad of sum(softmax(X) * W)",
               lambda: jax.grad(lambda x: jnp.sum(softmax(x) * jnp.asarray(GRAD_W)))(jnp.asarray(GRAD_X)))
    obs.record("jit", "jax.jit(softmax)", lambda: jax.jit(softmax)(jnp.asarray(VALUES_X)))
    return obs


def _wrong_axis_message(out: np.ndarray, X: np.ndarray) -> str | None:
    """Name the usual normalisation mistakes when ``out`` has the input's shape but wrong values."""
    if out.shape != X.shape or not np.all(np.isfinite(out)):
        return None
    e = np.exp(X.astype(np.float64))
    if np.allclose(out, e / e.sum(axis=0, keepdims=True), rtol=1e-4, atol=1e-6):
        return "it normalises over the first axis (columns): sum over the last axis, axis=-1, keepdims=True"
    if np.allclose(out, e / e.sum(), rtol=1e-4, atol=1e-6):
        return "it divides by the sum of the whole array: divide each row by its own sum (axis=-1, keepdims=True)"
    if np.allclose(out, np.exp(X), rtol=1e-4, atol=1e-6):
        return "it returns exp(X) without dividing by the row sums"
    if not np.allclose(out.sum(axis=-1), 1.0, atol=1e-4):
        return "its rows do not sum to 1"
    return None


def judge_values(s: Observations, r: Observations, check) -> Verdict:
    out = s["values"]
    problem = compare(out, r["values"], check.rtol, check.atol, "softmax of an (8, 5) array")
    if problem is None:
        return passed()
    cause = _wrong_axis_message(np.asarray(out, np.float64), VALUES_X)
    if out.shape != VALUES_X.shape:
        cause = "softmax must return an array of the input's shape (use keepdims=True when summing)"
    return failed(f"{problem}: {cause}" if cause else
                  f"{problem}: softmax(X)_j = exp(X_j) / sum_k exp(X_k), taken over the last axis")


def judge_last_axis(s: Observations, r: Observations, check) -> Verdict:
    return agreement(s["cube"], r["cube"], check, "softmax of a (2, 3, 4) array",
                     "normalise over the last axis (axis=-1), not axis=1, so any batch shape works")


def judge_large(s: Observations, r: Observations, check) -> Verdict:
    out = s["large"]
    problem = compare(out, r["large"], check.rtol, check.atol, "softmax of logits of ±1e4")
    if problem is None:
        grad = s["large_grad"]
        bad = nonfinite_summary(grad)
        if bad:
            return failed(f"jax.grad of softmax at logits of ±1e4 contains {bad}: compute it from the "
                          "max-shifted logits so no exp overflows")
        return passed()
    if nonfinite_summary(out):
        return failed(f"softmax returned {nonfinite_summary(out)} for logits of 1e4 (exp overflows above ~88 in "
                      "float32): subtract the row max before exp")
    return failed(f"{problem}: subtract the row max before exp, then normalise")


def judge_masked(s: Observations, r: Observations, check) -> Verdict:
    return agreement(s["masked"], r["masked"], check, "softmax of rows mixing -inf with finite entries",
                     "a -inf entry must get probability 0 and the finite ones must still sum to 1; shift by the "
                     "row max (which is finite) rather than replacing -inf")


def judge_scales(s: Observations, r: Observations, check) -> Verdict:
    return agreement(s["scales"], r["scales"], check, "softmax of rows of very different scales",
                     "subtract each row's own max (max over axis=-1 with keepdims=True), not the max of the whole "
                     "array, which underflows the small rows to 0/0")


def judge_shift(s: Observations, r: Observations, check) -> Verdict:
    return shift_invariance(s, check, "softmax", "softmax of an (8, 5) array",
                            "softmax is unchanged by adding a constant to a row; normalise within each row")


def judge_grad(s: Observations, r: Observations, check) -> Verdict:
    return agreement(s["grad"], r["grad"], check, "jax.grad of sum(softmax(X) * W)",
                     "build softmax only from differentiable jnp operations (and keep stop_gradient to the max "
                     "shift, which does not change the value)")


def judge_jit(s: Observations, r: Observations, check) -> Verdict:
    return agreement(s["jit"], r["values"], check, "jax.jit(softmax)",
                     "under jax.jit, use jnp operations and no Python control flow on array values")

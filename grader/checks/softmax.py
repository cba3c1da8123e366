"""Checks of ``softmax(X)``: softmax(X)_j = exp(X_j) / Σ_k exp(X_k) over the last axis.

Stable form: with m = max_k X_k per row, softmax(X)_j = exp(X_j − m) / Σ_k exp(X_k − m), which never
overflows, keeps rows of any scale, and gives exp(−inf − m) = 0 for masked entries. Its gradient,
∂ softmax_j / ∂ X_k = softmax_j (δ_jk − softmax_k), is 0 wherever softmax_j = 0, a masked entry included.
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
    compare,
    failed,
    jit_verdict,
    judged,
    observe_calls,
    passed,
    shift_invariance,
)

VALUES_X = inputs.normal(1, (8, 5), scale=2.0)
CUBE_X = inputs.normal(2, (2, 3, 4), scale=2.0)
GRAD_X = inputs.normal(3, (6, 4))
GRAD_W = inputs.normal(4, (6, 4))


@dataclasses.dataclass(frozen=True)
class Inputs:
    """What the probe feeds softmax: the public arrays, or a hidden variant's (:func:`hidden`)."""

    values: np.ndarray
    cube: np.ndarray
    grad_x: np.ndarray
    grad_w: np.ndarray  # at least as many rows and columns as every array whose gradient is taken
    large: np.ndarray
    masked: np.ndarray
    scales: np.ndarray
    shifts: np.ndarray


PUBLIC = Inputs(VALUES_X, CUBE_X, GRAD_X, GRAD_W, inputs.LARGE_LOGITS, inputs.MASKED_LOGITS, inputs.scaled_rows(),
                inputs.ROW_SHIFTS)


def hidden(seed: int) -> Inputs:
    """The hidden variant's inputs: the same kinds as :data:`PUBLIC`, other shapes and values."""
    h = inputs.Hidden(seed)
    values = h.matrix(scale=2.0)
    cols = h.size(3, 9)
    return Inputs(values=values, cube=h.normal((h.size(2, 4), h.size(2, 5), h.size(3, 7)), 2.0),
                  grad_x=h.matrix(), grad_w=h.normal((16, 16)), large=h.large_logits(h.size(3, 8), cols),
                  masked=h.masked_logits(h.size(3, 8), cols), scales=h.scaled_rows(h.size(3, 9)),
                  shifts=h.row_shifts(values.shape[0]))


def _weighted_grad(softmax, X, W):
    """∇_X Σ softmax(X) · W, with W cut to X's shape."""
    W = jnp.asarray(W[: X.shape[0], : X.shape[1]])
    return jax.grad(lambda x: jnp.sum(softmax(x) * W))(jnp.asarray(X))


def calls(softmax, x: Inputs = PUBLIC) -> dict:
    """The probe's calls of ``softmax``: ``{key: (what, thunk)}``."""
    return {
        "values": ("softmax of an (8, 5) array", lambda: softmax(jnp.asarray(x.values))),
        "last_axis": ("softmax of a (2, 3, 4) array", lambda: softmax(jnp.asarray(x.cube))),
        "stability_large_logits": ("softmax of logits of ±1e4", lambda: softmax(jnp.asarray(x.large))),
        "stability_large_logits_grad": ("jax.grad of softmax at logits of ±1e4",
                        lambda: _weighted_grad(softmax, x.large, x.grad_w)),
        "stability_neg_inf": ("softmax of rows mixing -inf with finite entries",
                        lambda: softmax(jnp.asarray(x.masked))),
        "stability_neg_inf_grad": ("jax.grad of sum(softmax(X) * W) at rows mixing -inf with finite entries",
                        lambda: _weighted_grad(softmax, x.masked, x.grad_w)),
        "stability_row_scales": ("softmax of rows of very different scales", lambda: softmax(jnp.asarray(x.scales))),
        "shift_invariance": ("softmax of the (8, 5) array plus a constant per row",
                    lambda: softmax(jnp.asarray(x.values + x.shifts))),
        "grad": ("jax.grad of sum(softmax(X) * W)", lambda: _weighted_grad(softmax, x.grad_x, x.grad_w)),
        "jit": ("jax.jit(softmax)", lambda: jax.jit(softmax)(jnp.asarray(x.values))),
    }


def probe(fns, seed: int | None = None) -> Observations:
    """The public probe, or with ``seed`` the hidden variant's."""
    return observe_calls(calls(fns["softmax"], PUBLIC if seed is None else hidden(seed)))


# --- known mistakes (named only where they reproduce the student's observations) ---------------------------

def _shifted_exp(X, axis=-1, stop=False):
    m = jnp.max(X, axis=axis, keepdims=True)
    return jnp.exp(X - (jax.lax.stop_gradient(m) if stop else m))


NO_KEEPDIMS = ("a row max or row sum lost its last axis (no keepdims=True), so it does not line up with the rows: "
               "reduce with axis=-1, keepdims=True")
MISTAKES = (
    Mistake(lambda X: _shifted_exp(X, 0) / _shifted_exp(X, 0).sum(axis=0, keepdims=True),
            "it normalises over the first axis (columns): sum over the last axis, axis=-1, keepdims=True"),
    Mistake(lambda X: _shifted_exp(X, 1) / _shifted_exp(X, 1).sum(axis=1, keepdims=True),
            "it normalises over axis 1: normalise over the last axis (axis=-1), not axis=1, so any batch shape works",
            evidence=("last_axis",)),
    Mistake(lambda X: _shifted_exp(X) / jnp.sum(_shifted_exp(X)),
            "it divides by the sum of the whole array: divide each row by its own sum (axis=-1, keepdims=True)"),
    Mistake(jnp.exp, "it returns exp(X) without dividing by the row sums"),
    Mistake(lambda X: _shifted_exp(X) / jnp.sum(_shifted_exp(X), axis=-1), NO_KEEPDIMS, raises=True),
    Mistake(lambda X: jnp.exp(X - jnp.max(X, axis=-1)) / jnp.sum(jnp.exp(X - jnp.max(X, axis=-1)), axis=-1),
            NO_KEEPDIMS, raises=True),
    Mistake(lambda X: jnp.exp(X) / jnp.exp(X).sum(axis=-1, keepdims=True),
            "exp(x) overflows to inf above ~88 in float32, and inf / inf is nan: subtract the row max before exp "
            "(max over axis=-1, keepdims=True)", evidence=("stability_large_logits",)),
    Mistake(lambda X: jnp.exp(X - jnp.max(X)) / jnp.exp(X - jnp.max(X)).sum(axis=-1, keepdims=True),
            "it subtracts the max of the whole array, so every exp of a row far below it underflows to 0 and the row "
            "is 0 / 0 = nan: subtract each row's own max (max over axis=-1 with keepdims=True)",
            evidence=("stability_large_logits",)),
    Mistake(lambda X: _shifted_exp(jnp.where(jnp.isinf(X), 0.0, X))
            / _shifted_exp(jnp.where(jnp.isinf(X), 0.0, X)).sum(axis=-1, keepdims=True),
            "it replaces each -inf entry by 0, so a masked entry gets a probability: leave -inf in place, "
            "exp(-inf - max) is exactly 0 once you subtract the row max (which is finite)",
            evidence=("stability_neg_inf",)),
    Mistake(lambda X: _shifted_exp(X, stop=True) / jax.lax.stop_gradient(_shifted_exp(X).sum(axis=-1, keepdims=True)),
            "it stops the gradient through the row sums: only the max shift may be held constant for autodiff "
            "(it does not change the value); the sums must stay differentiable", evidence=("grad",)),
    Mistake(lambda X: jnp.exp(jnp.log(_shifted_exp(X)) - jnp.log(_shifted_exp(X).sum(axis=-1, keepdims=True))),
            "it takes log of exp(x - max), which is log(0) where exp underflows or the entry is -inf; the gradient "
            "of log at 0 is infinite and times 0 gives nan: return exp(x - max) / its row sum directly",
            evidence=("stability_large_logits_grad",)),
)
CHECKS = (("softmax.values", ("values",)), ("softmax.last_axis", ("last_axis",)),
          ("softmax.stability.large_logits", ("stability_large_logits", "stability_large_logits_grad")),
          ("softmax.stability.neg_inf", ("stability_neg_inf", "stability_neg_inf_grad")),
          ("softmax.stability.row_scales", ("stability_row_scales",)),
          ("softmax.shift_invariance", ("shift_invariance",)), ("softmax.grad", ("grad",)), ("softmax.jit", ("jit",)))
KNOWN = KnownMistakes(calls, CHECKS, MISTAKES)


# --- judges ------------------------------------------------------------------------------------------------

def judge_values(s: Observations, r: Observations, check) -> Verdict:
    out = KNOWN.observed(s, r, "values")
    problem = compare(out, r["values"], check.rtol, check.atol, "softmax of an (8, 5) array")
    if problem is None:
        return passed()
    cause = KNOWN.explain(s, r, "values")
    if cause is None and out.shape != r["values"].shape:
        cause = "softmax must return an array of the input's shape (use keepdims=True when summing)"
    if cause is None and np.all(np.isfinite(out)) and not np.allclose(np.sum(out, axis=-1), 1.0, atol=1e-4):
        cause = "its rows do not sum to 1: softmax(X)_j = exp(X_j) / sum_k exp(X_k), taken over the last axis"
    return failed(f"{problem}: {cause or 'softmax(X)_j = exp(X_j) / sum_k exp(X_k), taken over the last axis'}")


def judge_last_axis(s: Observations, r: Observations, check) -> Verdict:
    return judged(s, r, check, "last_axis", "softmax of a (2, 3, 4) array", KNOWN,
                  "normalise over the last axis (axis=-1), so any batch shape works")


def judge_stability_large_logits(s: Observations, r: Observations, check) -> Verdict:
    """Value and gradient at logits of ±1e4 (the gradient within the check's tolerances of the reference's)."""
    verdict = judged(s, r, check, "stability_large_logits", "softmax of logits of ±1e4", KNOWN,
                     "subtract each row's max before exp, so no exp overflows (above ~88) or underflows a whole row")
    if not verdict.passed:
        return verdict
    return judged(s, r, check, "stability_large_logits_grad", "jax.grad of softmax at logits of ±1e4", KNOWN,
                  "the gradient is softmax_j (δ_jk - softmax_k); compute softmax from the max-shifted logits with "
                  "differentiable jnp operations (stop_gradient only on the max)")


def judge_stability_neg_inf(s: Observations, r: Observations, check) -> Verdict:
    """Rows with -inf entries: probability 0 there, and a finite gradient that is 0 there too."""
    verdict = judged(s, r, check, "stability_neg_inf", "softmax of rows mixing -inf with finite entries", KNOWN,
                     "a -inf entry must get probability 0 and the finite ones must still sum to 1; subtract the row "
                     "max (which is finite) before exp")
    if not verdict.passed:
        return verdict
    return judged(s, r, check, "stability_neg_inf_grad",
                  "jax.grad of sum(softmax(X) * W) at rows mixing -inf with finite entries",
                  KNOWN, "the gradient softmax_j (δ_jk - softmax_k) is finite, and 0 at a -inf entry, whose "
                  "probability is 0 whatever the other entries do: build softmax from exp(x - max) and its row sum")


def judge_stability_row_scales(s: Observations, r: Observations, check) -> Verdict:
    return judged(s, r, check, "stability_row_scales", "softmax of rows of very different scales", KNOWN,
                  "each row must be normalised on its own: subtract each row's own max (axis=-1, keepdims=True) "
                  "before exp, then divide by the row's sum")


def judge_shift_invariance(s: Observations, r: Observations, check) -> Verdict:
    return shift_invariance(s, r, check, "softmax", "softmax of an (8, 5) array", KNOWN,
                            "softmax is unchanged by adding a constant to a row; normalise within each row")


def judge_grad(s: Observations, r: Observations, check) -> Verdict:
    return judged(s, r, check, "grad", "jax.grad of sum(softmax(X) * W)", KNOWN,
                  "build softmax only from differentiable jnp operations (stop_gradient may hold only the max "
                  "shift, which does not change the value)")


def judge_jit(s: Observations, r: Observations, check) -> Verdict:
    return jit_verdict(s, r, check, "softmax", "softmax.values", lambda: KNOWN.explain(s, r, "values"))

"""Checks of ``l2_penalty(w)``: the scalar ½ ‖w‖² = ½ Σ_ij w_ij², of shape (), whose gradient is w itself.

Only the weights are penalised; the bias is left out by the caller, which adds λ · l2_penalty(w) to the loss.
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
)

MATRIX = inputs.normal(71, (5, 3))
VECTOR = inputs.normal(72, (7,))


@dataclasses.dataclass(frozen=True)
class Inputs:
    """What the probe feeds l2_penalty: the public arrays, or a hidden variant's (:func:`hidden`)."""

    matrix: np.ndarray
    vector: np.ndarray


PUBLIC = Inputs(MATRIX, VECTOR)


def hidden(seed: int) -> Inputs:
    """The hidden variant's inputs: a matrix and a vector of other shapes and values."""
    h = inputs.Hidden(seed)
    return Inputs(matrix=h.matrix(scale=h.uniform(0.5, 3.0)), vector=h.normal((h.size(2, 20),), h.uniform(0.5, 3.0)))


WHAT = {"values": "l2_penalty of a (5, 3) array", "values_vector": "l2_penalty of a (7,) array"}


def calls(l2, x: Inputs = PUBLIC) -> dict:
    """The probe's calls of ``l2_penalty``: ``{key: (what, thunk)}``."""
    return {
        "values": (WHAT["values"], lambda: l2(jnp.asarray(x.matrix))),
        "values_vector": (WHAT["values_vector"], lambda: l2(jnp.asarray(x.vector))),
        "grad": ("jax.grad of l2_penalty", lambda: jax.grad(lambda w: jnp.reshape(l2(w), ()))(jnp.asarray(x.matrix))),
        "jit": ("jax.jit(l2_penalty)", lambda: jax.jit(l2)(jnp.asarray(x.matrix))),
    }


def probe(fns, seed: int | None = None) -> Observations:
    """The public probe, or with ``seed`` the hidden variant's."""
    return observe_calls(calls(fns["l2_penalty"], PUBLIC if seed is None else hidden(seed)))


AVERAGES = "it averages over the entries: sum them, then halve"
L1 = "it uses |w| (an L1 penalty); the L2 penalty squares: sum(w ** 2) / 2"
MISTAKES = tuple(Mistake(impl, cause, evidence=("values", "values_vector")) for impl, cause in (
    (lambda w: jnp.sum(w ** 2), "it is missing the ½: the penalty is sum(w ** 2) / 2"),
    (lambda w: jnp.sqrt(jnp.sum(w ** 2)),
     "it returns the norm ‖w‖; the penalty is the squared norm halved, sum(w ** 2) / 2"),
    (lambda w: jnp.sqrt(jnp.sum(w ** 2)) / 2,
     "it halves the norm ‖w‖; the penalty is sum(w ** 2) / 2, without a square root"),
    (lambda w: jnp.mean(w ** 2), AVERAGES),
    (lambda w: jnp.mean(w ** 2) / 2, AVERAGES),
    (lambda w: jnp.sum(jnp.abs(w)), L1),
    (lambda w: jnp.sum(jnp.abs(w)) / 2, L1),
    (lambda w: w ** 2 / 2, "it must return one number (a scalar): sum over every entry of w"),
    (lambda w: jax.lax.stop_gradient(jnp.sum(w ** 2) / 2),
     "its gradient is 0, as if the penalty were a constant for autodiff (stop_gradient, or values computed outside "
     "jax.numpy): the gradient of sum(w ** 2) / 2 is w itself"),
))
CHECKS = (("l2_penalty.values", ("values", "values_vector")), ("l2_penalty.grad", ("grad",)),
          ("l2_penalty.jit", ("jit",)))
KNOWN = KnownMistakes(calls, CHECKS, MISTAKES)

SCALAR = ("l2_penalty must return a scalar of shape () (use jnp.sum without keepdims, and do not wrap the result in "
          "a list or an array)")


def _cause(s: Observations, r: Observations, key: str) -> str:
    """Why the student's ``key`` (a penalty) is wrong: one number of the wrong shape, or a known mistake."""
    if np.size(s[key]) == 1 and np.shape(s[key]) != ():
        return SCALAR
    return KNOWN.explain(s, r, key) or "the penalty is sum(w ** 2) / 2 over every entry of w"


def judge_values(s: Observations, r: Observations, check) -> Verdict:
    for key in ("values", "values_vector"):
        problem = compare(KNOWN.observed(s, r, key), r[key], check.rtol, check.atol, WHAT[key])
        if problem is not None:
            return failed(f"{problem}: {_cause(s, r, key)}")
    return passed()


def judge_grad(s: Observations, r: Observations, check) -> Verdict:
    return judged(s, r, check, "grad", "jax.grad of l2_penalty", KNOWN,
                  "the gradient of sum(w ** 2) / 2 is w itself; use differentiable jnp operations")


def judge_jit(s: Observations, r: Observations, check) -> Verdict:
    return jit_verdict(s, r, check, "l2_penalty", "l2_penalty.values", lambda: _cause(s, r, "values"))

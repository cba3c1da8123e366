"""Checks of ``l2_penalty(w)``: the scalar ½ ‖w‖² = ½ Σ_ij w_ij², whose gradient is w itself.

Only the weights are penalised; the bias is left out by the caller, which adds λ · l2_penalty(w) to the loss.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from . import inputs
from .common import Observations, Verdict, agreement, compare, failed, passed

MATRIX = inputs.normal(71, (5, 3))
VECTOR = inputs.normal(72, (7,))


def probe(fns) -> Observations:
    l2 = fns["l2_penalty"]
    obs = Observations()
    obs.record("matrix", "l2_penalty of a (5, 3) array", lambda: l2(jnp.asarray(MATRIX)))
    obs.record("vector", "l2_penalty of a (7,) array", lambda: l2(jnp.asarray(VECTOR)))
    obs.record("grad", "jax.grad of l2_penalty", lambda: jax.grad(lambda w: jnp.reshape(l2(w), ()))(jnp.asarray(MATRIX)))
    obs.record("jit", "jax.jit(l2_penalty)", lambda: jax.jit(l2)(jnp.asarray(MATRIX)))
    return obs


def _cause(out: np.ndarray, w: np.ndarray) -> str:
    w = w.astype(np.float64)
    half_sq = 0.5 * np.sum(w**2)
    if out.shape not in ((), (1,)):
        return "it must return one number (a scalar): sum over every entry of w"
    v = float(np.reshape(out, ()))
    for value, cause in (
        (2 * half_sq, "it is missing the ½: the penalty is sum(w ** 2) / 2"),
        (np.sqrt(2 * half_sq), "it returns the norm ‖w‖; the penalty is the squared norm halved, sum(w ** 2) / 2"),
        (np.sqrt(2 * half_sq) / 2, "it halves the norm ‖w‖; the penalty is sum(w ** 2) / 2, without a square root"),
        (half_sq * 2 / w.size, "it averages over the entries: sum them, then halve"),
        (half_sq / w.size, "it averages over the entries: sum them, then halve"),
        (0.5 * np.sum(np.abs(w)), "it uses |w| (an L1 penalty); the L2 penalty squares: sum(w ** 2) / 2"),
        (np.sum(np.abs(w)), "it uses |w| (an L1 penalty); the L2 penalty squares: sum(w ** 2) / 2"),
    ):
        if np.isclose(v, value, rtol=1e-4):
            return cause
    return "the penalty is sum(w ** 2) / 2 over every entry of w"


def judge_values(s: Observations, r: Observations, check) -> Verdict:
    for key, w, what in (("matrix", MATRIX, "l2_penalty of a (5, 3) array"), ("vector", VECTOR, "l2_penalty of a (7,) array")):
        out = s[key]
        problem = compare(np.reshape(out, ()) if out.size == 1 else out, r[key], check.rtol, check.atol, what)
        if problem is not None:
            return failed(f"{problem}: {_cause(np.asarray(out), w)}")
    return passed()


def judge_grad(s: Observations, r: Observations, check) -> Verdict:
    return agreement(s["grad"], r["grad"], check, "jax.grad of l2_penalty",
                     "the gradient of sum(w ** 2) / 2 is w itself; use differentiable jnp operations")


def judge_jit(s: Observations, r: Observations, check) -> Verdict:
    out = s["jit"]
    problem = compare(np.reshape(out, ()) if out.size == 1 else out, r["jit"], check.rtol, check.atol, "jax.jit(l2_penalty)")
    if problem is None:
        return passed()
    return failed(f"{problem}: under jax.jit, use jnp.sum rather than Python sum/float over array values")

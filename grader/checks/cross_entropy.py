"""Checks of ``cross_entropy(logits, y)``: the per-example loss ℓ_i = −log softmax(logits_i)[y_i].

Stable form (log-sum-exp): ℓ_i = m_i + log Σ_k exp(logits_ik − m_i) − logits_i,y_i with m_i = max_k logits_ik.
Its gradient with respect to the logits is softmax(logits_i) − onehot(y_i), finite for any finite logits.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from . import inputs
from .common import (Observations, Verdict, agreement, compare, failed, nonfinite_summary, passed,
                     shift_invariance)

LOGITS = inputs.normal(21, (8, 5), scale=2.0)
LABELS = inputs.labels(22, 8, 5)
WEIGHTS = inputs.normal(23, (8,))


def _weighted_sum(cross_entropy, y):
    """Σ_i w_i ℓ_i: a scalar whose gradient exposes every per-example loss."""
    def f(logits):
        loss = cross_entropy(logits, y)
        return jnp.sum(jnp.reshape(loss, (-1,))[: len(y)] * jnp.asarray(WEIGHTS[: len(y)]))
    return f


def probe(fns) -> Observations:
    ce = fns["cross_entropy"]
    obs = Observations()
    y = jnp.asarray(LABELS)
    obs.record("values", "cross_entropy of (8, 5) logits", lambda: ce(jnp.asarray(LOGITS), y))
    obs.record("shifted", "cross_entropy of the logits plus a constant per row",
               lambda: ce(jnp.asarray(LOGITS + inputs.ROW_SHIFTS), y))
    big, big_y = jnp.asarray(inputs.LARGE_LOGITS), jnp.asarray(inputs.LARGE_LABELS)
    obs.record("large", "cross_entropy of logits of ±1e4", lambda: ce(big, big_y))
    obs.record("large_grad", "jax.grad of cross_entropy at logits of ±1e4",
               lambda: jax.grad(_weighted_sum(ce, big_y))(big))
    obs.record("grad", "jax.grad of sum(w * cross_entropy(logits, y))",
               lambda: jax.grad(_weighted_sum(ce, y))(jnp.asarray(LOGITS)))
    obs.record("jit", "jax.jit(cross_entropy)", lambda: jax.jit(ce)(jnp.asarray(LOGITS), y))
    return obs


def _likely_cause(out: np.ndarray) -> str:
    """Compare a wrong output of the (8, 5) probe with the usual mistakes."""
    X = LOGITS.astype(np.float64)
    n = len(LABELS)
    lse = np.log(np.exp(X).sum(axis=1))
    per_example = lse - X[np.arange(n), LABELS]
    if out.shape in ((), (1,)):
        val = float(np.reshape(out, ()))
        if np.isclose(val, per_example.mean(), rtol=1e-4):
            return "it returns the mean over the batch: return one loss per example, shape (n,)"
        if np.isclose(val, per_example.sum(), rtol=1e-4):
            return "it returns the sum over the batch: return one loss per example, shape (n,)"
        return "return one loss per example, shape (n,)"
    if out.shape == (n, n):
        return ("it has shape (n, n): pick each row's own label with logits[jnp.arange(n), y] "
                "(or take_along_axis), not logits[:, y]")
    if out.shape == (n, X.shape[1]):
        return "it returns a loss per class: pick the entry of each row's label, giving shape (n,)"
    if out.shape != (n,):
        return "return one loss per example, shape (n,)"
    with np.errstate(divide="ignore", invalid="ignore"):
        if np.allclose(out, -np.log(X[np.arange(n), LABELS]), rtol=1e-4, equal_nan=True):
            return ("it treats the logits as probabilities: cross_entropy takes logits, so use "
                    "log-softmax (logsumexp(logits) - logits[y])")
    if np.allclose(out, -per_example, rtol=1e-4):
        return "its sign is flipped: the loss is -log softmax(logits)[y], which is ≥ 0"
    if np.allclose(out, per_example / X.shape[1], rtol=1e-4) or np.allclose(out, per_example / n, rtol=1e-4):
        return "it is divided by a count: return the plain per-example loss"
    return "the loss is -log softmax(logits)[i, y[i]] = logsumexp(logits[i]) - logits[i, y[i]]"


def judge_values(s: Observations, r: Observations, check) -> Verdict:
    out = s["values"]
    problem = compare(out, r["values"], check.rtol, check.atol, "cross_entropy of (8, 5) logits")
    if problem is None:
        return passed()
    return failed(f"{problem}: {_likely_cause(np.asarray(out, np.float64))}")


def judge_large(s: Observations, r: Observations, check) -> Verdict:
    out = s["large"]
    problem = compare(out, r["large"], check.rtol, check.atol, "cross_entropy of logits of ±1e4")
    if problem is None:
        return passed()
    if nonfinite_summary(out):
        return failed(f"cross_entropy returned {nonfinite_summary(out)} for logits of ±1e4: log(softmax(...)) "
                      "takes log(0) once a probability underflows; use log-sum-exp: "
                      "logsumexp(logits) - logits[y] with the row max subtracted")
    return failed(f"{problem}: compute it as logsumexp(logits) - logits[y], with the row max subtracted")


def judge_large_grad(s: Observations, r: Observations, check) -> Verdict:
    grad = s["large_grad"]
    problem = compare(grad, r["large_grad"], check.rtol, check.atol, "jax.grad of cross_entropy at logits of ±1e4")
    if problem is None:
        return passed()
    if nonfinite_summary(grad):
        return failed(f"the gradient of cross_entropy at logits of ±1e4 contains {nonfinite_summary(grad)}: "
                      "the log of an underflowed probability has an infinite slope; use log-sum-exp so the "
                      "gradient is softmax(logits) - onehot(y)")
    return failed(f"{problem}: the gradient should be softmax(logits) - onehot(y); use log-sum-exp")


def judge_shift(s: Observations, r: Observations, check) -> Verdict:
    return shift_invariance(s, check, "cross_entropy", "cross_entropy of (8, 5) logits",
                            "the loss must not change when a constant is added to a row of logits")


def judge_grad(s: Observations, r: Observations, check) -> Verdict:
    return agreement(s["grad"], r["grad"], check, "jax.grad of sum(w * cross_entropy(logits, y))",
                     "the gradient of each loss with respect to its logits is softmax(logits) - onehot(y); build "
                     "the loss from differentiable jnp operations")


def judge_jit(s: Observations, r: Observations, check) -> Verdict:
    return agreement(s["jit"], r["values"], check, "jax.jit(cross_entropy)",
                     "under jax.jit, index with arrays (logits[jnp.arange(n), y]) and avoid Python loops or "
                     "conversions of array values")

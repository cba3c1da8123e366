"""Checks of ``cross_entropy(logits, y)``: the per-example loss ℓ_i = −log softmax(logits_i)[y_i].

Stable form (log-sum-exp): ℓ_i = m_i + log Σ_k exp(logits_ik − m_i) − logits_i,y_i with m_i = max_k logits_ik.
Its gradient with respect to the logits is softmax(logits_i) − onehot(y_i), finite for any finite logits.

The function takes *logits*; the book's ``cross_entropy(y_hat, y)`` takes probabilities instead,
−log y_hat[i, y_i], and some versions average over the batch. To recognise that mistake the probe also calls
the student's function on probabilities (rows of softmax(logits)), where it gives finite numbers.
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

LOGITS = inputs.normal(21, (8, 5), scale=2.0)
LABELS = inputs.labels(22, 8, 5)
WEIGHTS = inputs.normal(23, (8,))


def _probabilities(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits.astype(np.float64) - logits.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class Inputs:
    """What the probe feeds cross_entropy: the public arrays, or a hidden variant's (:func:`hidden`)."""

    logits: np.ndarray
    labels: np.ndarray
    weights: np.ndarray  # one per example, at least as many as every batch whose gradient is taken
    shifts: np.ndarray
    large: np.ndarray
    large_labels: np.ndarray

    @property
    def probabilities(self) -> np.ndarray:
        """Rows of softmax(logits)."""
        return _probabilities(self.logits)


PUBLIC = Inputs(LOGITS, LABELS, WEIGHTS, inputs.ROW_SHIFTS, inputs.LARGE_LOGITS, inputs.LARGE_LABELS)


def hidden(seed: int) -> Inputs:
    """The hidden variant's inputs: the same kinds as :data:`PUBLIC`, other shapes, values and labels."""
    h = inputs.Hidden(seed)
    logits = h.matrix(scale=2.0)
    n, k = logits.shape
    big_n, big_k = h.size(3, 8), h.size(3, 8)
    return Inputs(logits=logits, labels=h.labels(n, k), weights=h.normal((16,)), shifts=h.row_shifts(n),
                  large=h.large_logits(big_n, big_k), large_labels=h.labels(big_n, big_k))


def _weighted_sum(cross_entropy, y, weights):
    """Σ_i w_i ℓ_i: a scalar whose gradient exposes every per-example loss."""
    def f(logits):
        loss = cross_entropy(logits, y)
        return jnp.sum(jnp.reshape(loss, (-1,))[: len(y)] * jnp.asarray(weights[: len(y)]))
    return f


def calls(ce, x: Inputs = PUBLIC) -> dict:
    """The probe's calls of ``cross_entropy``: ``{key: (what, thunk)}``."""
    y, big, big_y = jnp.asarray(x.labels), jnp.asarray(x.large), jnp.asarray(x.large_labels)
    return {
        "values": ("cross_entropy of (8, 5) logits", lambda: ce(jnp.asarray(x.logits), y)),
        "probabilities": ("cross_entropy of probabilities (rows of softmax(logits))",
                          lambda: ce(jnp.asarray(x.probabilities), y)),
        "shift_invariance": ("cross_entropy of the logits plus a constant per row",
                    lambda: ce(jnp.asarray(x.logits + x.shifts), y)),
        "stability_large_logits": ("cross_entropy of logits of ±1e4", lambda: ce(big, big_y)),
        "stability_grad": ("jax.grad of cross_entropy at logits of ±1e4",
                       lambda: jax.grad(_weighted_sum(ce, big_y, x.weights))(big)),
        "grad": ("jax.grad of sum(w * cross_entropy(logits, y))",
                 lambda: jax.grad(_weighted_sum(ce, y, x.weights))(jnp.asarray(x.logits))),
        "jit": ("jax.jit(cross_entropy)", lambda: jax.jit(ce)(jnp.asarray(x.logits), y)),
    }


def probe(fns, seed: int | None = None) -> Observations:
    """The public probe, or with ``seed`` the hidden variant's."""
    return observe_calls(calls(fns["cross_entropy"], PUBLIC if seed is None else hidden(seed)))


# --- known mistakes (named only where they reproduce the student's observations) ---------------------------

def _pick(a, y):
    return a[jnp.arange(a.shape[0]), y]


def _lse(logits):
    m = jnp.max(logits, axis=-1, keepdims=True)
    return (m + jnp.log(jnp.sum(jnp.exp(logits - m), axis=-1, keepdims=True)))[..., 0]


def _loss(logits, y):
    return _lse(logits) - _pick(logits, y)


def _nll(p, y):
    """−log p[i, y_i]: the book's loss of probabilities, here applied to logits."""
    return -jnp.log(_pick(p, y))


TAKES_LOGITS = ("cross_entropy takes logits and returns one loss per example, shape (n,): "
                "logsumexp(logits) - logits[i, y_i]")
ONE_PER_EXAMPLE = "return one loss per example, shape (n,)"
LOG_SUM_EXP = "use log-sum-exp, m + log(sum(exp(logits - m))) - logits[i, y_i] with m each row's own max"
BROADCAST_NN = ("it has shape (n, n), from an (n, 1) term added to an (n,) term (broadcasting): a row max kept "
                "with keepdims=True meets a row sum or label pick without it; give every per-row term shape (n,), "
                "e.g. m[:, 0], or keep them all (n, 1) and drop the axis once at the end")
MISTAKES = (
    Mistake(_nll, "it treats the logits as probabilities (-log logits[i, y_i]): cross_entropy takes logits, so use "
            "log-softmax: logsumexp(logits) - logits[i, y_i]", evidence=("values", "probabilities")),
    Mistake(lambda o, y: jnp.mean(_nll(o, y)), "it treats the logits as probabilities and returns the batch mean "
            f"of -log p[i, y_i] (the book's cross-entropy of probabilities): {TAKES_LOGITS}",
            evidence=("values", "probabilities")),
    Mistake(lambda o, y: jnp.sum(_nll(o, y)), "it treats the logits as probabilities and returns the batch sum "
            f"of -log p[i, y_i]: {TAKES_LOGITS}", evidence=("values", "probabilities")),
    Mistake(lambda o, y: jnp.mean(_loss(o, y)), f"it returns the mean over the batch: {ONE_PER_EXAMPLE}"),
    Mistake(lambda o, y: jnp.sum(_loss(o, y)), f"it returns the sum over the batch: {ONE_PER_EXAMPLE}"),
    Mistake(lambda o, y: _lse(o)[:, None] - o[:, y],
            "it has shape (n, n): pick each row's own label with logits[jnp.arange(n), y] (or take_along_axis), "
            "not logits[:, y]"),
    Mistake(lambda o, y: (jnp.max(o, axis=-1, keepdims=True)
                          + jnp.log(jnp.sum(jnp.exp(o - jnp.max(o, axis=-1, keepdims=True)), axis=-1)) - _pick(o, y)),
            BROADCAST_NN),
    Mistake(lambda o, y: _lse(o)[:, None] - o,
            "it returns a loss per class: pick the entry of each row's label, giving shape (n,)"),
    Mistake(lambda o, y: -_loss(o, y), "its sign is flipped: the loss is -log softmax(logits)[y], which is ≥ 0"),
    Mistake(lambda o, y: _loss(o, y) / o.shape[-1],
            "it divides by the number of classes: return the plain per-example loss, -log softmax(logits)[i, y_i]"),
    Mistake(lambda o, y: _loss(o, y) / o.shape[0],
            "it divides by the batch size: return the plain per-example loss (whoever trains sums or averages it)"),
    Mistake(lambda o, y: jax.lax.stop_gradient(_lse(o)) - _pick(o, y),
            "it stops the gradient through the log-sum-exp, so the gradient misses its softmax(logits) term: only the "
            "max shift may be a constant for autodiff; the gradient is softmax(logits) - onehot(y)"),
    Mistake(lambda o, y: -jnp.log(_pick(jnp.exp(o) / jnp.exp(o).sum(axis=-1, keepdims=True), y)),
            f"it takes the log of an unshifted softmax, whose exp overflows to inf above ~88: {LOG_SUM_EXP}",
            evidence=("stability_large_logits",)),
    Mistake(lambda o, y: -jnp.log(_pick(jnp.exp(o - o.max(-1, keepdims=True))
                                        / jnp.exp(o - o.max(-1, keepdims=True)).sum(-1, keepdims=True), y)),
            f"it takes log(softmax(...)), which is log(0) = -inf once a probability underflows: {LOG_SUM_EXP}",
            evidence=("stability_large_logits",)),
    Mistake(lambda o, y: jnp.log(jnp.sum(jnp.exp(o), axis=-1)) - _pick(o, y),
            f"exp(logits) overflows to inf above ~88 (and underflows to 0 below ~-103) without a shift: {LOG_SUM_EXP}",
            evidence=("stability_large_logits",)),
    Mistake(lambda o, y: jnp.max(o) + jnp.log(jnp.sum(jnp.exp(o - jnp.max(o)), axis=-1)) - _pick(o, y),
            "it subtracts the max of the whole array, so every exp of a row far below it underflows to 0: "
            f"{LOG_SUM_EXP}", evidence=("stability_large_logits",)),
)
CHECKS = (("cross_entropy.values", ("values",)), ("cross_entropy.stability.large_logits", ("stability_large_logits",)),
          ("cross_entropy.stability.grad", ("stability_grad",)),
          ("cross_entropy.shift_invariance", ("shift_invariance",)),
          ("cross_entropy.grad", ("grad",)), ("cross_entropy.jit", ("jit",)))
KNOWN = KnownMistakes(calls, CHECKS, MISTAKES)


# --- judges ------------------------------------------------------------------------------------------------

def judge_values(s: Observations, r: Observations, check) -> Verdict:
    out = KNOWN.observed(s, r, "values")
    problem = compare(out, r["values"], check.rtol, check.atol, "cross_entropy of (8, 5) logits")
    if problem is None:
        return passed()
    n = r["values"].shape[0] if r["values"].ndim else -1
    cause = KNOWN.explain(s, r, "values") or (
        BROADCAST_NN if out.shape == (n, n) else
        ONE_PER_EXAMPLE if out.shape != r["values"].shape else
        "the loss is -log softmax(logits)[i, y[i]] = logsumexp(logits[i]) - logits[i, y[i]]")
    return failed(f"{problem}: {cause}")


def judge_stability_large_logits(s: Observations, r: Observations, check) -> Verdict:
    return judged(s, r, check, "stability_large_logits", "cross_entropy of logits of ±1e4", KNOWN,
                  f"the loss of logits of ±1e4 is finite: {LOG_SUM_EXP}")


def judge_stability_grad(s: Observations, r: Observations, check) -> Verdict:
    return judged(s, r, check, "stability_grad", "jax.grad of cross_entropy at logits of ±1e4", KNOWN,
                  "the gradient is softmax(logits) - onehot(y), finite for any finite logits")


def judge_shift_invariance(s: Observations, r: Observations, check) -> Verdict:
    return shift_invariance(s, r, check, "cross_entropy", "cross_entropy of (8, 5) logits", KNOWN,
                            "the loss must not change when a constant is added to a row of logits")


def judge_grad(s: Observations, r: Observations, check) -> Verdict:
    return judged(s, r, check, "grad", "jax.grad of sum(w * cross_entropy(logits, y))", KNOWN,
                  "the gradient of each loss with respect to its logits is softmax(logits) - onehot(y); build "
                  "the loss from differentiable jnp operations")


def judge_jit(s: Observations, r: Observations, check) -> Verdict:
    return jit_verdict(s, r, check, "cross_entropy", "cross_entropy.values", lambda: KNOWN.explain(s, r, "values"))

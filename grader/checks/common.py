"""What every check shares: observations gathered by a probe, the verdict a judge returns, comparisons.

A check has two halves. Its *probe* runs student code on seeded inputs and records plain NumPy arrays in an
:class:`Observations` (or, for an input on which the code failed, a message saying how). Its *judge* compares
the student's observations with the reference's and returns a :class:`Verdict`. Probes never judge and
judges never run student code, so the two halves can live in different processes.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import numpy as np


class ProbeFailed(Exception):
    """Raised by a judge that reads an observation the probe could not make; its text is the feedback."""


@dataclasses.dataclass(frozen=True)
class Verdict:
    """A judge's answer: the fraction of the check's points earned and a message for the student."""

    fraction: float
    message: str = ""

    @property
    def passed(self) -> bool:
        return self.fraction >= 1.0


def passed(message: str = "ok") -> Verdict:
    return Verdict(1.0, message)


def failed(message: str) -> Verdict:
    return Verdict(0.0, message)


def describe_exception(exc: BaseException) -> str:
    """A one-line account of an exception raised by student code, with a hint for the common JAX traps."""
    if isinstance(exc, NotImplementedError):
        hint = str(exc).strip()
        return f"not implemented yet (hint: {hint})" if hint else "not implemented yet"
    if isinstance(exc, SystemExit):
        return f"SystemExit (the code called exit({exc.code!r}))"
    name = type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if len(text) > 240:
        text = text[:237] + "..."
    line = f"{name}: {text}" if text else name
    if "Tracer" in name or "Tracer" in text or "ConcretizationTypeError" in name:
        line += (" (JAX could not trace the code: use jax.numpy instead of NumPy or Python floats, and avoid"
                 " Python `if` on array values)")
    return line


def failure_text(what: str, exc: BaseException) -> str:
    """``<what>: not implemented yet …`` or ``<what> raised <exception>``."""
    reason = describe_exception(exc)
    return f"{what}: {reason}" if reason.startswith("not implemented yet") else f"{what} raised {reason}"


class Observations:
    """Arrays recorded by a probe, keyed by name, plus a failure message for each key it could not record."""

    def __init__(self, values: dict[str, np.ndarray] | None = None, errors: dict[str, str] | None = None):
        self.values: dict[str, np.ndarray] = dict(values or {})
        self.errors: dict[str, str] = dict(errors or {})

    def record(self, key: str, what: str, thunk: Callable[[], Any], numeric: bool = True) -> None:
        """Run ``thunk`` and store its result as an array under ``key``.

        ``what`` names the call for feedback (``"softmax of logits of ±1e4"``): if the student's code raises,
        the error is kept as ``"<what> raised <exception>"`` and any judge reading ``key`` fails with it.
        """
        try:
            self.values[key] = to_array(thunk(), numeric)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # student code may raise anything, even SystemExit; the judge reports it
            self.errors[key] = failure_text(what, exc)

    def record_tree(self, key: str, what: str, thunk: Callable[[], Any]) -> None:
        """Record a pytree result: its structure as text under ``key.structure``, leaf i under ``key.leaf<i>``."""
        try:
            leaves, treedef = jax.tree.flatten(thunk())
            arrays = [to_array(leaf) for leaf in leaves]
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # student code may raise anything; the judge reports it
            self.errors[f"{key}.structure"] = failure_text(what, exc)
            return
        self.values[f"{key}.structure"] = np.array(str(treedef))
        for i, arr in enumerate(arrays):
            self.values[f"{key}.leaf{i}"] = arr

    def fail_all(self, message: str) -> None:
        """Mark the whole probe as failed (a missing function, a module that does not import)."""
        self.errors["*"] = message

    def __getitem__(self, key: str) -> np.ndarray:
        if key in self.values:
            return self.values[key]
        if key in self.errors:
            raise ProbeFailed(self.errors[key])
        if "*" in self.errors:
            raise ProbeFailed(self.errors["*"])
        raise ProbeFailed(f"no observation {key!r} was recorded")

    def __contains__(self, key: str) -> bool:
        return key in self.values


def to_array(value: Any, numeric: bool = True) -> np.ndarray:
    """Convert a probe result (a JAX or NumPy array, a number, a bool) to a NumPy array.

    With ``numeric``, anything but booleans and numbers (text, objects) is refused with a TypeError.
    """
    try:
        arr = np.array(value)
    except Exception as exc:
        raise TypeError(f"returned {type(value).__name__}, which is not an array") from exc
    if arr.dtype == object or (numeric and arr.dtype.kind not in "biuf"):
        raise TypeError(f"returned {type(value).__name__} of {arr.dtype}, which is not an array of numbers")
    return arr


def max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    with np.errstate(invalid="ignore"):
        d = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))
    return float(np.nanmax(d)) if d.size and not np.all(np.isnan(d)) else float("nan")


def nonfinite_summary(a: np.ndarray) -> str:
    """``"nan"``, ``"inf"``, ``"nan and inf"`` or ``""`` for an array."""
    a = np.asarray(a, np.float64)
    kinds = [k for k, m in (("nan", np.isnan(a)), ("inf", np.isinf(a))) if m.any()]
    return " and ".join(kinds)


def compare(actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float, what: str) -> str | None:
    """``None`` when ``actual`` matches ``expected`` (same shape, ``allclose`` with NaN/Inf where expected).

    Otherwise a message naming the difference: the shape, a NaN or Inf, or the largest deviation.
    """
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    if actual.shape != expected.shape:
        return f"{what} has shape {actual.shape}, expected {expected.shape}"
    if not np.issubdtype(actual.dtype, np.number) and actual.dtype != np.bool_:
        return f"{what} has dtype {actual.dtype}, expected numbers"
    a = actual.astype(np.float64)
    e = expected.astype(np.float64)
    bad = nonfinite_summary(a[np.isfinite(e)]) if np.isfinite(e).any() else ""
    if bad:
        return f"{what} contains {bad} where the answer is finite"
    if not np.allclose(a, e, rtol=rtol, atol=atol, equal_nan=True):
        return f"{what} is off by up to {max_abs_diff(a, e):.3g}"
    return None


def agreement(actual: np.ndarray, expected: np.ndarray, check, what: str, advice: str) -> Verdict:
    """Pass when ``actual`` matches ``expected`` within the check's tolerances; otherwise fail with the
    difference :func:`compare` names, followed by ``advice``."""
    problem = compare(actual, expected, check.rtol, check.atol, what)
    return passed() if problem is None else failed(f"{problem}: {advice}")


def shift_invariance(s: "Observations", check, function: str, what: str, advice: str, atol: float = 0.0) -> Verdict:
    """f(X + c) = f(X) for a constant c per row: compare the probe's ``shifted`` output with its ``values``."""
    if nonfinite_summary(s["values"]):
        return failed(f"{what} contains {nonfinite_summary(s['values'])}, so invariance to a shift cannot hold")
    problem = compare(s["shifted"], s["values"], check.rtol, max(check.atol, atol),
                      f"{function}(X + c) for a constant c per row, compared with {function}(X),")
    return passed() if problem is None else failed(f"{problem}: {advice}")

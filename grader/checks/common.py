"""What every check shares: observations gathered by a probe, the verdict a judge returns, comparisons.

A check has two halves. Its *probe* runs student code on seeded inputs and records plain NumPy arrays in an
:class:`Observations` (or, for an input on which the code failed, a message saying how). Its *judge* compares
the student's observations with the reference's and returns a :class:`Verdict`. Probes never judge and
judges never run student code, so the two halves can live in different processes.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from typing import Any, Callable

import numpy as np

from grader.engine.student_errors import without_location
from grader.observations import Observations, ProbeFailed, to_array  # noqa: F401 (the checks' names for them)


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


# -- admission: what a judge may compute on -----------------------------------------------------------------

SMALL_ENTRIES = 1 << 16  # entries any observation may hold, whatever the reference's: room for a wrong shape


def _entries(arr: np.ndarray) -> int:
    """An array's entries, each character of text counted as one."""
    return arr.size * (arr.dtype.itemsize // 4 if arr.dtype.kind == "U" else 1)


def _family(arr: np.ndarray) -> str:
    """What the reference's array is, for a message: ``a float array``, ``an integer array``, ``text``..."""
    kind = arr.dtype.kind
    return {"f": "a float array", "i": "an integer array", "u": "an integer array", "b": "a boolean array",
            "U": "text"}.get(kind, f"an array of {arr.dtype}")


def inadmissible(actual: np.ndarray, expected: np.ndarray, subject: str, key: str) -> str | None:
    """Why a judge may not compute on the student's ``actual`` for ``key``, given the reference's ``expected``;
    ``None`` when it may.

    The rule: numbers (booleans, integers, floats) where the reference recorded numbers and text where it recorded
    text, of at most max(the reference's entries, :data:`SMALL_ENTRIES`) entries (characters, for text). An array
    of the reference's shape always holds as many entries as the reference's; one of another shape within that
    allowance still reaches its judge, which names the shape and the known mistake that gives it (a batch mean, an
    (n, n) broadcast).
    """
    numeric = expected.dtype.kind in "biuf"
    if (actual.dtype.kind in "biuf") != numeric or (not numeric and actual.dtype.kind != expected.dtype.kind):
        return f"{subject} returned dtype {actual.dtype} for {key!r}, expected {_family(expected)}"
    allowed = max(_entries(expected), SMALL_ENTRIES)
    if _entries(actual) <= allowed:
        return None
    if numeric:
        return (f"{subject} returned shape {actual.shape} for {key!r}, expected {expected.shape}: "
                f"{actual.size:,} entries where the answer has {expected.size:,} (an output that large is not judged)")
    return (f"{subject} returned {_entries(actual):,} characters of text for {key!r}, where the answer has "
            f"{_entries(expected):,} (text that long is not judged)")


def admit(student: Observations, reference: Observations, subject: str) -> Observations:
    """The student's observations that judges, figures and reports may compute on, checked against the
    reference's before any arithmetic.

    Each array passes :func:`inadmissible` against the reference's array of the same key, or is replaced by an
    error naming the cause (``softmax returned shape (8, 196608) for 'values', expected (8, 5): ...``), so every
    check that reads it fails with that message; a key the reference did not record is dropped. So nothing a
    judge widens to float64 holds more entries than the reference's answer or :data:`SMALL_ENTRIES`, whatever
    the child sent. ``subject`` names what returned the arrays (``softmax``, ``the mlp training``). Admitting
    admitted observations again changes nothing.
    """
    values, errors = {}, dict(student.errors)
    for key, arr in student.values.items():
        expected = reference.values.get(key)
        if expected is None:
            continue
        arr = np.asarray(arr)
        why = inadmissible(arr, np.asarray(expected), subject, key)
        if why is None:
            values[key] = arr
        else:
            errors[key] = why
    return Observations(values, errors)


def observe_calls(calls: dict[str, tuple[str, Callable[[], Any]]]) -> Observations:
    """Record every call of a probe's table ``{key: (what, thunk)}``."""
    obs = Observations()
    for key, (what, thunk) in calls.items():
        obs.record(key, what, thunk)
    return obs


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


def same_output(a: np.ndarray, b: np.ndarray, rtol: float = 1e-4, atol: float = 1e-6) -> bool:
    """Two outputs agree: the same shape and ``allclose`` entry by entry, NaN matching NaN and inf matching inf.

    ``atol`` grows with the largest finite magnitude m in ``b`` (atol + 1e-6 · m): float32 code computing the
    same thing differently differs by a few ulps of its largest intermediate, not of each entry.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype.kind not in "biuf" or b.dtype.kind not in "biuf":
        return False
    a, b = a.astype(np.float64), b.astype(np.float64)
    finite = np.abs(b[np.isfinite(b)])
    atol += 1e-6 * (float(finite.max()) if finite.size else 0.0)
    return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))


@dataclasses.dataclass(frozen=True)
class Mistake:
    """A known wrong implementation of a student function, and the feedback that names it.

    The mistake is named for an observation only when it reproduces the student's there and on every
    ``evidence`` key: the same output (:func:`same_output`), or the same error. Only a mistake that ``raises``
    is run against a student's error, and only one that returns against a student's output, so a stub or a
    crash costs no trusted run at all.
    """

    impl: Callable
    cause: str
    evidence: tuple[str, ...] = ("values",)
    raises: bool = False


_PRIVATE = contextvars.ContextVar("private_inputs", default=False)


@contextlib.contextmanager
def private_inputs():
    """While a hidden check is judged: known mistakes (run on the public inputs) name no cause, and no pointer to
    another check is computed; :mod:`grader.checks.hidden` names the cause from the public checks' results."""
    token = _PRIVATE.set(True)
    try:
        yield
    finally:
        _PRIVATE.reset(token)


class KnownMistakes:
    """The known mistakes of one function, run through that function's probe calls on demand.

    ``calls(impl)`` gives the probe's calls, ``{key: (what, thunk)}``; ``checks`` lists the function's checks
    in rubric order with the keys each one judges. Mistakes are trusted code: they run in the grading process,
    each key once per process.
    """

    def __init__(self, calls: Callable, checks: tuple[tuple[str, tuple[str, ...]], ...], mistakes: tuple[Mistake, ...]):
        self.calls, self.checks, self.mistakes = calls, checks, mistakes
        self._seen = [Observations() for _ in mistakes]

    def _output(self, i: int, key: str) -> Observations:
        seen = self._seen[i]
        if key not in seen.values and key not in seen.errors:
            what, thunk = self.calls(self.mistakes[i].impl)[key]
            seen.record(key, what, thunk)
        return seen

    def _reproduces(self, s: Observations, i: int, key: str) -> bool:
        if (key not in s.values) != self.mistakes[i].raises:
            return False
        seen = self._output(i, key)
        if key in s.values and key in seen.values:
            return same_output(s.values[key], seen.values[key])
        return key in s.errors and key in seen.errors and without_location(s.errors[key]) == without_location(
            seen.errors[key])

    def explain(self, s: Observations, r: Observations, key: str) -> str | None:
        """The cause of the student's ``key``: the first known mistake that reproduces it (and its evidence).

        When the student fails an earlier check and that mistake reproduces its observations too, the cause
        is the one that check names: ``"same cause as <check>: <cause>"``. ``None`` when no known mistake
        reproduces ``key``, and while a hidden check is judged (:func:`private_inputs`).
        """
        if _PRIVATE.get():
            return None
        found = next((i for i, m in enumerate(self.mistakes)
                      if all(self._reproduces(s, i, k) for k in (*m.evidence, key))), None)
        if found is None:
            return None
        for check_id, keys in self.checks:
            if key in keys:
                break
            if any(self._reproduces(s, found, k) for k in keys) and fails(check_id, s, r):
                return same_cause(check_id, self.mistakes[found].cause)
        return self.mistakes[found].cause

    def observed(self, s: Observations, r: Observations, key: str) -> np.ndarray:
        """``s[key]``; when the student's code raised there, the failure alone, or followed by the known
        mistake that raises the same error."""
        try:
            return s[key]
        except ProbeFailed as exc:
            cause = self.explain(s, r, key)
            if cause:
                raise ProbeFailed(f"{exc}: {cause}") from exc
            raise


def same_cause(check_id: str, cause: str | None) -> str:
    """``same cause as <check>: <diagnosis>``: a cause reads "diagnosis: remedy", and the remedy is already
    in that check's own message, so only the diagnosis is repeated."""
    return f"same cause as {check_id}" + (f": {cause.split(': ', 1)[0]}" if cause else "")


# The checks in force, by id: set by :mod:`grader.rubric` (which imports the checks, so they never import it), read
# at each call, so a course file's rubric is the one judged.
_checks_by_id: Callable[[], dict] = dict


def read_checks_from(lookup: Callable[[], dict]) -> None:
    """Let :func:`fails` find a check by its id with ``lookup`` (the rubric's ``BY_ID`` at the time of the call)."""
    global _checks_by_id
    _checks_by_id = lookup


def fails(check_id: str, s: Observations, r: Observations) -> bool:
    """Whether the student's observations fail the rubric check ``check_id`` (a probe failure counts)."""
    check = _checks_by_id()[check_id]
    try:
        return not check.judge(s, r, check).passed
    except ProbeFailed:
        return True


def judged(s: Observations, r: Observations, check, key: str, what: str, known: KnownMistakes, advice: str) -> Verdict:
    """Pass when the student's ``key`` matches the reference's within the check's tolerances. Otherwise fail
    with the difference :func:`compare` names, then the known mistake that reproduces it; failing that, when
    the function's first check fails too, a pointer to it, and otherwise ``advice``."""
    out = known.observed(s, r, key)
    problem = compare(out, r[key], check.rtol, check.atol, what)
    if problem is None:
        return passed()
    cause = known.explain(s, r, key)
    if cause is None and not _PRIVATE.get():
        primary, keys = known.checks[0]
        if key not in keys and fails(primary, s, r):
            cause = f"{primary} fails as well, so start there"
    return failed(f"{problem}: {cause or advice}")


def _reason(error: str | None) -> str | None:
    """A failure's text without the call it names (see :func:`failure_text`)."""
    return without_location(error.split(" raised ", 1)[-1]) if error else None


def jit_verdict(s: Observations, r: Observations, check, function: str, primary: str,
                cause: Callable[[], str | None], key: str = "values", jit_key: str = "jit") -> Verdict:
    """jax.jit(f) must give the reference's ``key``. When it gives what f gives without jit (the probe's
    ``key``), jit works and the fault is the one ``primary`` names, ``cause()``; otherwise jit changes the result."""
    try:
        out = s[jit_key]
    except ProbeFailed as exc:  # the same error as without jit: the same cause, when a known mistake names it
        why = cause() if _reason(s.errors.get(jit_key)) == _reason(s.errors.get(key)) else None
        if why:
            raise ProbeFailed(f"{exc}: {same_cause(primary, why)}") from exc
        raise
    problem = compare(out, r[key], check.rtol, check.atol, f"jax.jit({function})")
    if problem is None:
        return passed()
    if key not in s:  # without jit it raised: that failure comes first
        return failed(f"{problem}: {primary} fails as well, so start there")
    if same_output(out, s[key], check.rtol, check.atol):
        return failed(f"{problem}, the same result as {function} without jit, so jit works: "
                      f"{same_cause(primary, cause())}")
    return failed(f"{problem}, and {function} without jit gives a different result: under jax.jit the code must "
                  "depend only on its arguments, through jnp operations (no NumPy conversions or Python state)")


def shift_invariance(s: Observations, r: Observations, check, function: str, what: str, known: KnownMistakes,
                     advice: str, atol: float = 0.0) -> Verdict:
    """f(X + c) = f(X) for a constant c per row: compare the probe's ``shifted`` output with its ``values``."""
    values, shifted = known.observed(s, r, "values"), known.observed(s, r, "shift_invariance")
    bad = nonfinite_summary(values)
    if bad:
        cause = known.explain(s, r, "shift_invariance")
        return failed(f"{what} contains {bad}, so invariance to a shift cannot hold" + (f": {cause}" if cause else ""))
    problem = compare(shifted, values, check.rtol, max(check.atol, atol),
                      f"{function}(X + c) for a constant c per row, compared with {function}(X),")
    if problem is None:
        return passed()
    return failed(f"{problem}: {known.explain(s, r, 'shift_invariance') or advice}")

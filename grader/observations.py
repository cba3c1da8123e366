"""What a probe records, below both the checks that read it and the engine that carries it.

A probe runs student code on seeded inputs and records plain NumPy arrays in an :class:`Observations`, or, for an
input on which the code failed, a message saying how. A judge that reads an observation the probe could not make
gets :class:`ProbeFailed`, whose text is the student's feedback. The checks (:mod:`grader.checks.common`, which
gives these names to the checks), the engine's probes and wire, and the reports all use this one definition.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import numpy as np

from grader.engine.student_errors import failure_text


class ProbeFailed(Exception):
    """Raised by a judge that reads an observation the probe could not make; its text is the feedback."""


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
        self.record_many((key,), what, lambda: (thunk(),), numeric)

    def record_many(self, keys: tuple[str, ...], what: str, thunk: Callable[[], tuple], numeric: bool = True) -> None:
        """Run ``thunk`` once and store the i-th value it returns under ``keys[i]`` (each key gets its error)."""
        try:
            arrays = [to_array(value, numeric) for value in thunk()]
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # student code may raise anything, even SystemExit; the judge reports it
            self.errors.update(dict.fromkeys(keys, failure_text(what, exc)))
            return
        self.values.update(zip(keys, arrays))

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

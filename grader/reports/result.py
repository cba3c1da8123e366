"""The grading result: the checks with their points and feedback, and what a report says beside them; its JSON form
(``to_dict``/``from_dict``) is the contract every saved report and every front end shares."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from grader.errors import CannotRun

# The formats a report is rendered in (:func:`grader.reports.report.render`); here, where the ``grade`` command
# reads them for its help without importing the rubric.
FORMATS = ("text", "json", "markdown", "junit", "gradescope")


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """One judged check in a report: the points earned of ``max_points`` (partial credit allowed), whether it
    passed, and the feedback (``"ok"`` when it passed); ``target`` is the function or training it belongs to."""

    id: str
    target: str
    points: float
    max_points: float
    passed: bool
    message: str
    hidden: bool = False  # a hidden check: its inputs are drawn from the instructor's secret and never shown
    # Why a failed check failed, for the class view (both left out of the JSON when empty, as ``hidden`` is):
    # ``kind`` is one of KINDS, ``cause`` the diagnosis its message names (:mod:`grader.checks.causes`).
    kind: str = ""
    cause: str = ""


# What a failed check's kind may be: the function is the exercise's unimplemented stub (it raised
# NotImplementedError), makes a forbidden shortcut call, raised another error (or could not be loaded or run), or
# returned a wrong answer.
KINDS = ("stub", "forbidden", "crash", "wrong")
_OPTIONAL = ("hidden", "kind", "cause")  # the fields a report's JSON holds only when they are set


@dataclasses.dataclass(frozen=True)
class Result:
    """The checks, and what the report says beside the points: the sandbox's confinement layers
    (``isolation``: :meth:`grader.engine.confine.Layers.to_json`), notes for an instructor's review, what graded it
    (``environment``: :func:`grader.reports.manifest.environment`), and the hidden checks that did not run for want of
    the instructor's secret (``not_run``: their ids; they count in neither the score nor the maximum)."""

    checks: tuple[CheckResult, ...]
    isolation: dict | None = None
    review: tuple[str, ...] = ()
    environment: dict | None = None
    not_run: tuple[str, ...] = ()

    @property
    def score(self) -> float:
        return round(sum(c.points for c in self.checks), 4)

    @property
    def max_score(self) -> float:
        return round(sum(c.max_points for c in self.checks), 4)

    def by_target(self) -> dict[str, tuple[float, float]]:
        """Points and maximum per target, in the sections' order (:func:`grader.rubric.section_order`: each
        section's functions, then its training)."""
        from grader import rubric  # the rubric imports the checks; read it at call time
        totals: dict[str, list[float]] = {}
        for c in self.checks:
            t = totals.setdefault(c.target, [0.0, 0.0])
            t[0] += c.points
            t[1] += c.max_points
        return {k: (round(totals[k][0], 4), round(totals[k][1], 4)) for k in rubric.section_order(totals)}

    def in_section_order(self) -> list:
        """The checks grouped by target in the sections' order, each target's checks in rubric order."""
        rank = {t: i for i, t in enumerate(self.by_target())}
        return sorted(self.checks, key=lambda c: rank[c.target])

    def repeats(self) -> dict[str, str]:
        """Each failed check whose message an earlier failed check of the same target already gave (in
        :meth:`in_section_order`), mapped to that first check's id: a forbidden call, a crash at import or a stub
        fails every check of its function with one message, which a report then gives once per function."""
        first: dict[tuple[str, str], str] = {}
        out = {}
        for c in self.in_section_order():
            if c.passed:
                continue
            key = (c.target, c.message)
            if key in first:
                out[c.id] = first[key]
            else:
                first[key] = c.id
        return out

    def to_dict(self) -> dict:
        out = {"score": self.score, "max_score": self.max_score,
               "checks": [{k: v for k, v in dataclasses.asdict(c).items() if k not in _OPTIONAL or v}
                          for c in self.checks]}
        if self.isolation is not None:
            out["isolation"] = self.isolation
        if self.review:
            out["review"] = list(self.review)
        if self.not_run:
            out["not_run"] = list(self.not_run)
        if self.environment is not None:
            out["environment"] = self.environment
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict) -> "Result":
        return cls(tuple(CheckResult(**c) for c in data["checks"]), data.get("isolation"),
                   tuple(data.get("review", ())), data.get("environment"), tuple(data.get("not_run", ())))


def fmt_points(x: float) -> str:
    return f"{round(x, 2):g}"  # points to 2 decimals, as the gradebook and Gradescope show them


def write_report(text: str, output: str | Path | None) -> None:
    """A report to the file ``output``, or to stdout when there is none; :class:`CannotRun` when the file cannot
    be written (the report of ``grade``, ``grade render`` and ``grade diff`` alike)."""
    if not output:
        sys.stdout.write(text)
        return
    try:
        Path(output).write_text(text)
    except OSError as exc:
        raise CannotRun(f"cannot write the report to {output}: {exc.strerror or exc}") from None

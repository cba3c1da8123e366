"""``grade render REPORT.json --format FORMAT [--output FILE]``: another format of a report saved by ``grade
--format json``, or the points as GitHub Classroom's autograding reporter reports them (the workflow's last step,
:mod:`grader.authoring.workflow`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from grader.authoring.workflow import CLASSROOM, RENDER_FORMATS
from grader.errors import CannotRun
from grader.reports import report
from grader.reports.result import Result, fmt_points, write_report


def load_result(path: Path) -> Result:
    """The :class:`Result` saved by ``grade --format json``."""
    return Result.from_dict(json.loads(path.read_text()))


def _number(x: float) -> int | float:
    return int(x) if float(x).is_integer() else x


def classroom(result: Result) -> str:
    """The points as GitHub Classroom's autograding reporter reports them: two notice annotations, the first
    ``Points X/Y`` titled "Autograding complete", the second ``{"totalPoints": X, "maxPoints": Y}`` titled
    "Autograding report"."""
    summary = json.dumps({"totalPoints": _number(result.score), "maxPoints": _number(result.max_score)},
                         separators=(",", ":"))
    return (f"::notice title=Autograding complete::Points {fmt_points(result.score)}/{fmt_points(result.max_score)}\n"
            f"::notice title=Autograding report::{summary}\n")


def render_main(argv: list[str] | None = None) -> int:
    """``grade render REPORT.json --format FORMAT [--output FILE]``: another format of a saved report."""
    parser = argparse.ArgumentParser(prog="grade render",
                                     description="Render a report saved by `grade --format json` in another format.")
    parser.add_argument("report", help="a JSON report written by grade --format json")
    parser.add_argument("--format", default="text", choices=RENDER_FORMATS,
                        help="classroom prints the points for GitHub Classroom (default: text)")
    parser.add_argument("--output", metavar="FILE", help="write to FILE instead of stdout")
    args = parser.parse_args(argv)
    try:
        result = load_result(Path(args.report))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CannotRun(f"cannot read {args.report}: {exc}", command="grade render") from None
    text = classroom(result) if args.format == CLASSROOM else report.render(result, args.format)
    try:
        write_report(text, args.output)
    except CannotRun as exc:
        raise exc.said_by("grade render") from None
    return 0

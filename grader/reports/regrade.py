"""``grade diff OLD NEW``: whom a regrade moves, on which checks, by how many points, and why.

An instructor who tightens a tolerance or fixes a judge mid-term grades the class again into a new folder and
compares before publishing. OLD and NEW are two JSON reports of one student (``grade PATH --format json``) or
two ``grade batch`` output folders (one ``<student>.json`` per student). A check *moved* when its points or its
verdict changed; its old and new messages are shown. Students present on one side only are listed apart.

Output: a Markdown table (default) or CSV (``--format csv``), one row per moved check, and the totals per
student; names and messages are the students' text, written inert (:mod:`grader.reports.inert`). The exit
status is 0 whether or not anything moved (2 when the inputs cannot be read).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import json
import sys
from pathlib import Path

from grader.errors import CannotRun
from grader.reports import inert
from grader.reports.result import Result, fmt_points, write_report

COLUMNS = ("student", "check", "old points", "new points", "change", "old message", "new message")


@dataclasses.dataclass(frozen=True)
class Move:
    """One check of one student whose points or verdict differ between the two gradings."""

    student: str
    check: str
    old_points: float | None  # None: the check is new in NEW
    new_points: float | None  # None: the check is gone from NEW
    old_message: str
    new_message: str

    @property
    def change(self) -> float:
        return round((self.new_points or 0.0) - (self.old_points or 0.0), 4)


def load(path: Path) -> dict[str, Result]:
    """The reports under ``path`` by student: a report file is one student (named after the file), a folder is
    every ``*.json`` report in it."""
    if path.is_dir():
        files = sorted(p for p in path.glob("*.json") if p.is_file())
        if not files:
            raise ValueError(f"{path} holds no JSON reports")
    elif path.is_file():
        files = [path]
    else:
        raise ValueError(f"{path} does not exist")
    out = {}
    for f in files:
        try:
            out[f.stem] = Result.from_dict(json.loads(f.read_text()))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{f} is not a grade report ({exc})") from None
    return out


def moves(old: dict[str, Result], new: dict[str, Result]) -> list[Move]:
    """Every check whose points or verdict changed, for the students in both gradings (in order of name).

    A single report on each side is one student, whatever the files are called."""
    if len(old) == len(new) == 1:
        old, new = {"student": next(iter(old.values()))}, {"student": next(iter(new.values()))}
    out = []
    for student in sorted(set(old) & set(new)):
        before = {c.id: c for c in old[student].checks}
        after = {c.id: c for c in new[student].checks}
        for check_id in [*before, *(c for c in after if c not in before)]:
            a, b = before.get(check_id), after.get(check_id)
            if a is not None and b is not None and (a.points, a.passed) == (b.points, b.passed):
                continue
            out.append(Move(student, check_id, a.points if a else None, b.points if b else None,
                            a.message if a else "", b.message if b else ""))
    return out


def _courses(results: dict[str, Result], show) -> str:
    """The course files a side's reports were graded with, as one phrase ('the kit's rubric' without one); each
    file name through ``show``."""
    found = sorted({f"{show(str(c['file']))} (sha256 {show(str(c['sha256'])[:12])})" if c else "the kit's rubric"
                    for r in results.values() for c in [(r.environment or {}).get("course")]})
    return " and ".join(found) if found else "the kit's rubric"


def course_change(old: dict[str, Result], new: dict[str, Result], show=inert.text) -> str | None:
    """One line when the two gradings used different course files (their reports' manifests say which), else
    ``None``: a move may then come from the rubric, not the code. ``show`` makes a file name inert for the output."""
    before, after = _courses(old, show), _courses(new, show)
    if before == after:
        return None
    return f"The gradings used different course files: {before} before, {after} after."


def _points(x: float | None) -> str:
    return "—" if x is None else fmt_points(x)


def markdown(old: dict[str, Result], new: dict[str, Result], found: list[Move]) -> str:
    pairs = {s for s in old if s in new} if not (len(old) == len(new) == 1) else {"student"}
    moved = sorted({m.student for m in found})
    lines = [f"# Regrade: {len(moved)} of {len(pairs)} students change", ""]
    changed = course_change(old, new, inert.code)
    if changed:
        lines += [changed, ""]
    if found:
        totals = {s: round(sum(m.change for m in found if m.student == s), 4) for s in moved}
        lines += ["| student | change |", "|---|---:|"]
        lines += [f"| {inert.markdown(s)} | {totals[s]:+g} |" for s in moved]
        lines += ["", "| " + " | ".join(COLUMNS) + " |", "|---|---|---:|---:|---:|---|---|"]
        lines += [f"| {inert.markdown(m.student)} | {inert.code(m.check)} | {_points(m.old_points)} | "
                  f"{_points(m.new_points)} | {m.change:+g} | {inert.markdown(m.old_message)} | "
                  f"{inert.markdown(m.new_message)} |" for m in found]
    else:
        lines.append("No check moved.")
    only_old, only_new = sorted(set(old) - set(new)), sorted(set(new) - set(old))
    if len(old) == len(new) == 1:
        only_old = only_new = []
    if only_old:
        lines += ["", f"Only in the old grading: {', '.join(map(inert.markdown, only_old))}"]
    if only_new:
        lines += ["", f"Only in the new grading: {', '.join(map(inert.markdown, only_new))}"]
    return "\n".join(lines) + "\n"


def to_csv(found: list[Move]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(inert.csv_row(COLUMNS))
    for m in found:
        writer.writerow(inert.csv_row([m.student, m.check, _points(m.old_points), _points(m.new_points), m.change,
                                       m.old_message, m.new_message]))
    return buf.getvalue()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="grade diff", description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path, help="a JSON report, or a `grade batch` output folder")
    parser.add_argument("new", type=Path, help="the same, from the regrade")
    parser.add_argument("--format", choices=("markdown", "csv"), default="markdown")
    parser.add_argument("--output", type=Path, help="write here instead of printing")
    args = parser.parse_args(argv)
    try:
        old, new = load(args.old), load(args.new)
    except ValueError as exc:
        raise CannotRun(str(exc), command="grade diff") from None
    found = moves(old, new)
    changed = course_change(old, new)
    if changed and args.format == "csv":
        print(f"grade diff: {changed}", file=sys.stderr)
    text = markdown(old, new, found) if args.format == "markdown" else to_csv(found)
    try:
        write_report(text, args.output)
    except CannotRun as exc:
        raise exc.said_by("grade diff") from None
    return 0

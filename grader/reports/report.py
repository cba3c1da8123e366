"""Renderers: one :class:`~grader.reports.result.Result`, five formats (text, json, markdown, junit, gradescope).

Every text a result carries (a check's message, quoting the student's exception or returned values; the notes for
review; the names) is the student's as far as a renderer knows: the text and Markdown renderers pass it through
:mod:`grader.reports.inert`, the JUnit one through :func:`xml_safe`, and add their own formatting around it."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import xml.etree.ElementTree as ET

from grader import rubric
from grader.reports import inert, manifest
from grader.reports.result import FORMATS, Result, fmt_points  # noqa: F401 (FORMATS: report.FORMATS)

_GREEN, _RED, _BOLD, _RESET = "\033[32m", "\033[31m", "\033[1m", "\033[0m"


def render(result: Result, fmt: str, color: bool = False, seconds: float | None = None) -> str:
    """``result`` in ``fmt``; ``seconds``, the grading time, is used by the Gradescope format only."""
    return {"text": lambda r: text(r, color), "json": lambda r: r.to_json() + "\n", "markdown": markdown,
            "junit": junit, "gradescope": lambda r: gradescope(r, seconds)}[fmt](result)


def _description(check_id: str) -> str:
    check = rubric.BY_ID.get(check_id)
    return check.description if check else ""


def text(result: Result, color: bool = False) -> str:
    """A table per function: each check with its points, and the feedback of those that failed."""
    def paint(s: str, code: str) -> str:
        return f"{code}{s}{_RESET}" if color else s

    lines = [paint(score_line(result), _BOLD), ""]
    width = max((len(c.id) for c in result.checks), default=0)
    repeats = result.repeats()
    for target, (pts, mx) in result.by_target().items():
        lines.append(paint(f"{inert.text(target)}  {fmt_points(pts)}/{fmt_points(mx)}", _BOLD))
        for c in result.checks:
            if c.target != target:
                continue
            mark = paint("PASS", _GREEN) if c.passed else paint("FAIL", _RED)
            lines.append(f"  {mark}  {inert.text(c.id):<{width}}  "
                         f"{fmt_points(c.points):>3}/{fmt_points(c.max_points)}" + ("  (hidden)" if c.hidden else ""))
            if c.id in repeats:
                lines.append(f"        (the same as {inert.text(repeats[c.id])})")
            elif not c.passed:
                lines.append("        " + inert.text(c.message, indent="        "))
        lines.append("")
    step = fix_first(result)
    lines += ([inert.text(step, indent="  "), ""] if step else [])
    lines += [inert.text(t, indent="    ") for t in _trailer(result)]
    return "\n".join(lines)


def _not_run_points(result: Result) -> float:
    """The points of the hidden checks that did not run here (no instructor's secret)."""
    return sum(rubric.BY_ID[i].points for i in result.not_run if i in rubric.BY_ID)


def not_run_here(result: Result) -> str | None:
    """What the hidden checks that did not run here (no instructor's secret) add, with the maximum of the
    instructor's grade, so a student knows what the whole is out of; ``None`` when none are missing."""
    hidden = _not_run_points(result)
    if not hidden:
        return None
    return (f"your instructor's grade adds hidden checks worth {fmt_points(hidden)}, out of "
            f"{fmt_points(result.max_score + hidden)}")


def score_line(result: Result) -> str:
    """``Score: X/Y``, followed on the same line by :func:`not_run_here` when hidden checks did not run here."""
    line = f"Score: {fmt_points(result.score)}/{fmt_points(result.max_score)}"
    later = not_run_here(result)
    return f"{line} here; {later}" if later else line


def fix_first(result: Result) -> str | None:
    """What to work on next: the first student function (in the sections' order) that lost points, with its first failed
    check's feedback; when every function is right, the first failed training. ``None`` at full marks.

    The line quotes the check's message as it is: each renderer makes it inert for its format."""
    failed = [c for c in result.in_section_order() if not c.passed]
    own = [c for c in failed if c.target in rubric.STUDENT_FUNCTIONS]
    if own:
        c = own[0]
        return f"Fix first: {c.target} ({c.id}): {c.message}"
    if failed:
        c = failed[0]
        return f"Fix first: the {c.target.replace('_', ' ')} training ({c.id}): {c.message}"
    return None


def summary(result: Result) -> str:
    """The score, the points of each function and of each training (naming the functions it trains with), and
    what to fix first: the block that ends ``pytest exercises/``."""
    targets = result.by_target()
    uses = {t: " + ".join(rubric.PROBES[t].uses) for t in targets if t in rubric.PROBES
            and t not in rubric.STUDENT_FUNCTIONS}
    names = {t: inert.text(f"{t.replace('_', ' ')} (with your {uses[t]})" if t in uses else t) for t in targets}
    width = max((len(n) for n in names.values()), default=0)
    lines = [score_line(result)]
    for heading, group in (("your functions", [t for t in targets if t not in uses]),
                           ("trainings with your functions", [t for t in targets if t in uses])):
        if group:
            lines.append(f"  {heading}:")
        for t in group:
            pts, mx = targets[t]
            lines.append(f"    {'ok' if pts >= mx else '  '} {names[t]:<{width}}  "
                         f"{fmt_points(pts):>4}/{fmt_points(mx)}")
    step = fix_first(result)
    return "\n".join(lines + ([inert.text(step, indent="  ")] if step else []))


def _trailer(result: Result, bullet: str = "  ") -> list[str]:
    """The hidden checks not run, the isolation layers in force and the notes for review, when the result
    carries them; raw (each renderer makes the lines inert for its format), with an empty last line when any."""
    out = []
    if result.not_run:
        out.append(f"Hidden checks not run here (worth {fmt_points(_not_run_points(result))}, not in this score): "
                   f"{', '.join(result.not_run)}. They test the same properties on inputs only your instructor's "
                   "secret gives, when your work is graded.")
    if result.isolation is not None:
        limits = result.isolation.get("time_limits")
        out.append(f"Sandbox: {result.isolation.get('summary', '')}" + (f"; {limits}" if limits else ""))
    if result.environment is not None:
        out.append(f"Graded with: {manifest.describe(result.environment)}")
    if result.review:
        out.append("For review by an instructor (no points taken for these):")
        out += [f"{bullet}{note}" for note in result.review]
    return out + ([""] if out else [])


def _parts_table(result: Result) -> list[str]:
    """The Markdown table of the points of each function and training."""
    lines = ["| part | points | |", "|---|---:|---|"]
    for target, (pts, mx) in result.by_target().items():
        lines.append(f"| {inert.code(target)} | {fmt_points(pts)} / {fmt_points(mx)} | {'✅' if pts >= mx else '❌'} |")
    return lines


def markdown(result: Result, figures: dict[str, str] | None = None) -> str:
    """A pull-request summary: the score, a table per function, then the failed checks with feedback.

    ``figures`` maps a check id (or ``"polynomial"``) to an image path, relative to where the report is saved;
    they are linked in a last section.
    """
    later = not_run_here(result)
    lines = [f"## Grade: {fmt_points(result.score)} / {fmt_points(result.max_score)}", "",
             *([f"Here; {later}.", ""] if later else []), *_parts_table(result)]
    failed = [c for c in result.in_section_order() if not c.passed]
    if failed:
        lines += ["", "### What to fix", "", "| check | points | feedback |", "|---|---:|---|"]
        repeats = result.repeats()
        for c in failed:
            hidden = " (hidden)" if c.hidden else ""
            message = f"the same as {inert.code(repeats[c.id])}" if c.id in repeats else inert.markdown(c.message)
            lines.append(f"| {inert.code(c.id)}{hidden} | {fmt_points(c.points)} / {fmt_points(c.max_points)} | "
                         f"{message} |")
    else:
        lines += ["", "Every check passes."]
    if figures:
        lines += ["", "### Training curves", "", "Your run (solid) beside the reference's (dashed); the dotted line "
                  "is the pass line.", ""]
        for key, path in figures.items():
            title = ("Polynomial under- and over-fitting (the grader's fits, with your data_iter and sgd)"
                     if key == "polynomial" else inert.code(key))
            lines += [f"{title}", "", f"![{key}]({path})", ""]
        lines.pop()
    trailer = _trailer(result, bullet="- ")
    if trailer:
        lines += ["", *["- " + inert.markdown(t[2:]) if t.startswith("- ") else inert.markdown(t)
                        for t in trailer[:-1]]]
    return "\n".join(lines) + "\n"


# Characters XML 1.0 cannot hold, even escaped: the C0 controls but tab, newline and carriage return, the
# surrogates, and U+FFFE/U+FFFF (a student's exception message may carry a terminal colour code, ``\x1b[31m``).
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(s: str) -> str:
    """``s`` with every character XML 1.0 cannot hold written as its Python escape (``\\x1b``, ``\\x00``)."""
    return _NOT_XML.sub(lambda m: ascii(m.group())[1:-1], s)


def junit(result: Result) -> str:
    """JUnit XML: one test case per check, grouped by target; a failure carries the feedback. Every attribute
    and text goes through :func:`xml_safe`, so any message gives a well-formed document."""
    def element(parent, tag: str, **attributes: str) -> ET.Element:
        return ET.SubElement(parent, tag, {k: xml_safe(v) for k, v in attributes.items()})

    suites = ET.Element("testsuites", name="dl-basics-grader", tests=str(len(result.checks)),
                        failures=str(sum(not c.passed for c in result.checks)))
    for target in result.by_target():
        cases = [c for c in result.checks if c.target == target]
        suite = element(suites, "testsuite", name=target, tests=str(len(cases)),
                        failures=str(sum(not c.passed for c in cases)))
        for c in cases:
            case = element(suite, "testcase", classname=target, name=c.id)
            props = element(case, "properties")
            element(props, "property", name="points", value=fmt_points(c.points))
            element(props, "property", name="max_points", value=fmt_points(c.max_points))
            if c.hidden:
                element(props, "property", name="hidden", value="true")
            if not c.passed:
                failure = element(case, "failure", message=c.message, type="GradingFailure")
                failure.text = xml_safe(c.message)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


GRADESCOPE_DECIMALS = 2  # the points of results.json, its tests and its summary


def _gradescope_visible(c) -> bool:
    """Whether Gradescope shows a check's test to the student at once: not a hidden check (on inputs drawn from
    the instructor's secret) nor one the rubric keeps from students; those are shown once the grades are published."""
    check = rubric.BY_ID.get(c.id)
    return not c.hidden and (check is None or check.visible)


def _gradescope_summary(result: Result) -> str:
    """The top-level ``output`` (Markdown), which the student sees at once: the score out of the maximum, the points
    of each function and training, and what to fix first. While some checks wait for the grades to be published
    (their points would give their verdicts away), the score is that of the checks shown now, and the summary says
    what the others are worth and the maximum of the whole."""
    shown = Result(tuple(c for c in result.checks if _gradescope_visible(c)))
    waiting = len(result.checks) - len(shown.checks)
    score = f"{fmt_points(shown.score)} / {fmt_points(shown.max_score)}"
    if waiting:
        later = round(result.max_score - shown.max_score, GRADESCOPE_DECIMALS)
        lines = [f"**Score on the checks shown now: {score}**", "",
                 f"{waiting} more check{'s' if waiting > 1 else ''}, worth {fmt_points(later)} points, "
                 f"{'are' if waiting > 1 else 'is'} shown when your instructor publishes the grades: the total is out "
                 f"of {fmt_points(result.max_score)}."]
    else:
        lines = [f"**Score: {score}**"]
    lines += ["", *_parts_table(shown)]
    step = fix_first(shown)
    lines += ["", inert.markdown(step) if step else "Every check passes."]
    return "\n".join(lines) + "\n"


def _rounded(result: Result) -> Result:
    """``result`` with every check's points and maximum to :data:`GRADESCOPE_DECIMALS`, so the score, the tests and
    the summary of results.json add up to the same numbers."""
    checks = tuple(dataclasses.replace(c, points=round(c.points, GRADESCOPE_DECIMALS),
                                       max_points=round(c.max_points, GRADESCOPE_DECIMALS)) for c in result.checks)
    return dataclasses.replace(result, checks=checks)


def gradescope(result: Result, seconds: float | None = None) -> str:
    """Gradescope's ``results.json``: a Markdown summary (``output``, its student text made inert), one test per
    check with its points, status, plain-text output (``output_format`` ``text``, control characters removed: the
    student's exception is shown as typed, never as Markdown, HTML or terminal codes) and visibility (hidden
    checks after the grades are published), what graded it and the sandbox's layers
    (``extra_data.environment`` and ``extra_data.isolation``, for staff). Points are given to
    :data:`GRADESCOPE_DECIMALS` decimals; ``seconds``, the grading time, is the ``execution_time``.

    No ``leaderboard``: the trainings run with fixed seeds and settings, so every correct submission trains the same
    models, up to floating-point rounding; a leaderboard would rank correct students by that rounding, or by time.
    """
    result = _rounded(result)
    tests = []
    for c in result.checks:
        tests.append({"name": inert.text(f"{c.id}: {_description(c.id)}"), "score": c.points,
                      "max_score": c.max_points, "status": "passed" if c.passed else "failed",
                      "output": "passed" if c.passed else inert.text(c.message), "output_format": "text",
                      "visibility": "visible" if _gradescope_visible(c) else "after_published"})
    out = {"score": round(result.score, GRADESCOPE_DECIMALS), "output": _gradescope_summary(result),
           "output_format": "md", "test_output_format": "text", "test_name_format": "text", "tests": tests}
    if isinstance(seconds, (int, float)) and math.isfinite(seconds):
        out["execution_time"] = round(seconds)
    extra = {k: v for k, v in (("environment", result.environment), ("isolation", result.isolation)) if v is not None}
    if extra:
        out["extra_data"] = extra
    return json.dumps(out, indent=2) + "\n"

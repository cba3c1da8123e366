"""Renderers: one :class:`~grader.result.Result`, five formats (text, json, markdown, junit, gradescope)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from . import manifest, rubric
from .result import Result, fmt_points

FORMATS = ("text", "json", "markdown", "junit", "gradescope")

_GREEN, _RED, _BOLD, _RESET = "\033[32m", "\033[31m", "\033[1m", "\033[0m"


def render(result: Result, fmt: str, color: bool = False) -> str:
    return {"text": lambda r: text(r, color), "json": lambda r: r.to_json() + "\n", "markdown": markdown,
            "junit": junit, "gradescope": gradescope}[fmt](result)


def _description(check_id: str) -> str:
    check = rubric.BY_ID.get(check_id)
    return check.description if check else ""


def text(result: Result, color: bool = False) -> str:
    """A table per function: each check with its points, and the feedback of those that failed."""
    def paint(s: str, code: str) -> str:
        return f"{code}{s}{_RESET}" if color else s

    lines = [paint(f"Score: {fmt_points(result.score)}/{fmt_points(result.max_score)}", _BOLD), ""]
    width = max((len(c.id) for c in result.checks), default=0)
    for target, (pts, mx) in result.by_target().items():
        lines.append(paint(f"{target}  {fmt_points(pts)}/{fmt_points(mx)}", _BOLD))
        for c in result.checks:
            if c.target != target:
                continue
            mark = paint("PASS", _GREEN) if c.passed else paint("FAIL", _RED)
            lines.append(f"  {mark}  {c.id:<{width}}  {fmt_points(c.points):>3}/{fmt_points(c.max_points)}")
            if not c.passed:
                lines.append(f"        {c.message}")
        lines.append("")
    step = fix_first(result)
    lines += ([step, ""] if step else []) + _trailer(result)
    return "\n".join(lines)


def fix_first(result: Result) -> str | None:
    """What to work on next: the first student function (in rubric order) that lost points, with its first failed
    check's feedback; when every function is right, the first failed training. ``None`` at full marks."""
    failed = [c for c in result.checks if not c.passed]
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
    names = {t: f"{t.replace('_', ' ')} (with your {uses[t]})" if t in uses else t for t in targets}
    width = max((len(n) for n in names.values()), default=0)
    lines = [f"Score: {fmt_points(result.score)}/{fmt_points(result.max_score)}"]
    for heading, group in (("your functions", [t for t in targets if t not in uses]),
                           ("trainings with your functions", [t for t in targets if t in uses])):
        if group:
            lines.append(f"  {heading}:")
        for t in group:
            pts, mx = targets[t]
            lines.append(f"    {'ok' if pts >= mx else '  '} {names[t]:<{width}}  {fmt_points(pts):>4}/{fmt_points(mx)}")
    step = fix_first(result)
    return "\n".join(lines + ([step] if step else []))


def _trailer(result: Result, bullet: str = "  ") -> list[str]:
    """The isolation layers in force and the notes for review, when the result carries them."""
    out = []
    if result.isolation is not None:
        out.append(f"Sandbox: {result.isolation.get('summary', '')}")
    if result.environment is not None:
        out.append(f"Graded with: {manifest.describe(result.environment)}")
    if result.review:
        out.append("For review by an instructor (no points taken for these):")
        out += [f"{bullet}{note}" for note in result.review]
    return out + ([""] if out else [])


def _md_escape(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def markdown(result: Result, figures: dict[str, str] | None = None) -> str:
    """A pull-request summary: the score, a table per function, then the failed checks with feedback.

    ``figures`` maps a check id (or ``"polynomial"``) to an image path, relative to where the report is saved;
    they are linked in a last section.
    """
    lines = [f"## Grade: {fmt_points(result.score)} / {fmt_points(result.max_score)}", "",
             "| part | points | |", "|---|---:|---|"]
    for target, (pts, mx) in result.by_target().items():
        lines.append(f"| `{target}` | {fmt_points(pts)} / {fmt_points(mx)} | {'✅' if pts >= mx else '❌'} |")
    failed = [c for c in result.checks if not c.passed]
    if failed:
        lines += ["", "### What to fix", "", "| check | points | feedback |", "|---|---:|---|"]
        for c in failed:
            lines.append(f"| `{c.id}` | {fmt_points(c.points)} / {fmt_points(c.max_points)} | {_md_escape(c.message)} |")
    else:
        lines += ["", "Every check passes."]
    if figures:
        lines += ["", "### Training curves", "", "Your run (solid) beside the reference's (dashed); the dotted line "
                  "is the pass line.", ""]
        for key, path in figures.items():
            title = "Polynomial under- and over-fitting" if key == "polynomial" else f"`{key}`"
            lines += [f"{title}", "", f"![{key}]({path})", ""]
        lines.pop()
    trailer = _trailer(result, bullet="- ")
    if trailer:
        lines += ["", *[_md_escape(t) if not t.startswith("- ") else "- " + _md_escape(t[2:]) for t in trailer[:-1]]]
    return "\n".join(lines) + "\n"


def junit(result: Result) -> str:
    """JUnit XML: one test case per check, grouped by target; a failure carries the feedback."""
    suites = ET.Element("testsuites", name="dl-basics-grader", tests=str(len(result.checks)),
                        failures=str(sum(not c.passed for c in result.checks)))
    for target in result.by_target():
        cases = [c for c in result.checks if c.target == target]
        suite = ET.SubElement(suites, "testsuite", name=target, tests=str(len(cases)),
                              failures=str(sum(not c.passed for c in cases)))
        for c in cases:
            case = ET.SubElement(suite, "testcase", classname=target, name=c.id)
            props = ET.SubElement(case, "properties")
            ET.SubElement(props, "property", name="points", value=fmt_points(c.points))
            ET.SubElement(props, "property", name="max_points", value=fmt_points(c.max_points))
            if not c.passed:
                failure = ET.SubElement(case, "failure", message=c.message, type="GradingFailure")
                failure.text = c.message
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def gradescope(result: Result) -> str:
    """Gradescope's ``results.json``."""
    tests = []
    for c in result.checks:
        check = rubric.BY_ID.get(c.id)
        tests.append({"name": f"{c.id}: {_description(c.id)}", "score": c.points, "max_score": c.max_points,
                      "output": "passed" if c.passed else c.message,
                      "visibility": "visible" if check is None or check.visible else "after_published"})
    out = {"score": result.score, "tests": tests}
    if result.environment is not None:
        out["extra_data"] = {"environment": result.environment}
    return json.dumps(out, indent=2) + "\n"

"""A student template repository, graded on every push and pull request; and saved reports re-rendered.

    grade release DIR [--force]                     (also: python -m grader.authoring.release DIR)
    grade render REPORT.json --format FORMAT [--output FILE]
                                                    (also: python -m grader.authoring.release render ...)

``grade release DIR`` writes a repository for students to start from (a GitHub Classroom template, say):

- ``exercises/``: the stubs and their tests, as in the kit;
- ``grader/`` and a ``pyproject.toml``: the grader, installable with ``pip install -e ".[student]"`` (the
  ``grade`` command and the pytest plugin), with the kit's pinned dependencies (its ``student`` extra, none of the
  instructors' tools) and no solution code;
- ``README.md``: how to test and how grading works, with the training thresholds read from the rubric
  (:mod:`grader.authoring.student_readme`);
- ``.github/workflows/autograde.yml`` (the template ``grader/authoring/templates/autograde.yml`` filled in): on every
  push and pull request it grades ``exercises/`` once into ``grade.json``, renders the other formats from that
  file, writes the Markdown report to the job summary, uploads the reports, keeps one comment with the grade
  on the pull request up to date, and reports the points as GitHub Classroom's autograding reporter does. It
  keeps the kit's cache folder (:mod:`grader.engine.cache_dir`: the compilation cache, which it fills with
  ``grade warm`` when none was restored, and the reference's observations) with ``actions/cache``, keyed on
  ``pyproject.toml`` (the kit's version and pins) and the grader's sources, so a run does not compile afresh;
- ``.gitignore``: the reports and the figures' folder the workflow writes, among the usual.

The workflow grades against the trusted library references. An instructor who wants their own solutions as
the reference stores a token that can read their private solutions repository as the secret
``INSTRUCTOR_SOLUTIONS_TOKEN`` and the repository's name (``owner/name``) as the variable
``INSTRUCTOR_SOLUTIONS_REPO`` (``INSTRUCTOR_SOLUTIONS_PATH``, default ``solutions``, is the folder in it);
the workflow then checks that folder out and passes it as ``--reference``. A secret is readable by anyone who
can change the repository's workflows, students included: use it only where that is acceptable.

The workflow's commands are built here from :data:`GRADE_ARGS` and :func:`render_args`, and the kit's tests
run the same commands in a release, so the workflow runs what was tested. The templates are package data of
``grader`` (:mod:`grader.authoring.templating`), so the ``grader/`` a release copies carries them.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import tomllib
from pathlib import Path

import tomli_w

from grader import PACKAGE_DIR
from grader.authoring import templating
from grader.authoring.student_readme import student_readme
from grader.errors import CannotRun
from grader.reports import report

from grader.reports.result import Result, fmt_points, write_report

GRADER = PACKAGE_DIR
KIT = GRADER.parent

# --- what the workflow runs (the kit's tests run exactly these) --------------------------------------------

SUBMISSION = "exercises"
REPORT_JSON = "grade.json"
FIGURES_DIR = "grade-figures"  # the training curves and report.md linking them, uploaded with the reports
GRADE_ARGS: tuple[str, ...] = (SUBMISSION, "--format", "json", "--output", REPORT_JSON, "--report-dir", FIGURES_DIR)
RENDERED = {"markdown": "grade.md", "junit": "grade.xml", "gradescope": "results.json"}
CLASSROOM = "classroom"
RENDER_FORMATS = (*report.FORMATS, CLASSROOM)
# Appended to the grade command in the workflow: the instructor's solutions, when the workflow checked them out.
REFERENCE_OPTION = '${REFERENCE:+--reference "$REFERENCE"}'
SOLUTIONS_CHECKOUT = ".instructor"
COMMENT_MARKER = "<!-- dl-basics-grade -->"
ARTIFACT = "grade-report"
WORKFLOW_TEMPLATE = "autograde.yml"  # in grader/authoring/templates/, with @name@ markers for the values below


def render_args(fmt: str) -> tuple[str, ...]:
    """Arguments of ``grade`` that render the saved report in ``fmt`` (the Classroom points go to stdout)."""
    args = ("render", REPORT_JSON, "--format", fmt)
    return args + ("--output", RENDERED[fmt]) if fmt in RENDERED else args


def workflow_commands() -> list[tuple[str, ...]]:
    """Every ``grade`` invocation of the workflow, in order: grade once, then render from the JSON."""
    return [GRADE_ARGS, *(render_args(fmt) for fmt in RENDERED), render_args(CLASSROOM)]


def report_files() -> list[str]:
    """What the workflow uploads as the artifact: the reports and the figures' folder."""
    return [REPORT_JSON, *RENDERED.values(), f"{FIGURES_DIR}/"]


def command_line(args: tuple[str, ...]) -> str:
    return "grade " + shlex.join(args)


# Actions pinned to full commit SHAs: (repository, commit, release tag).
ACTIONS = {
    "checkout": ("actions/checkout", "11bd71901bbe5b1630ceea73d27597364c9af683", "v4.2.2"),
    "setup-python": ("actions/setup-python", "a26af69be951a213d495a4c3e4e4022e16d87065", "v5.6.0"),
    "upload-artifact": ("actions/upload-artifact", "ea165f8d65b6e75b540449e92b4886f43607fa02", "v4.6.2"),
    "download-artifact": ("actions/download-artifact", "d3f86a106a0bac45b974a628896c90dbdf5c8093", "v4.3.0"),
    "github-script": ("actions/github-script", "60a0d83039c74a4aee543508d2ffcb1c3799cdea", "v7.0.1"),
    "cache": ("actions/cache", "5a3ec84eff668545956fd18022155c47e93e2684", "v4.2.3"),
}


def uses(action: str) -> str:
    """``uses:`` value and version comment of a pinned action."""
    repo, sha, tag = ACTIONS[action]
    return f"{repo}@{sha} # {tag}"


# --- grade render --------------------------------------------------------------------------------------------

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


# --- pyproject.toml ----------------------------------------------------------------------------------------

def student_pyproject(kit: dict) -> str:
    """The student repository's ``pyproject.toml``: the grader package with the kit's pins and scripts (the pytest
    plugin is loaded by ``exercises/conftest.py``)."""
    project = kit["project"]
    data = {
        "build-system": kit["build-system"],
        "project": {
            "name": "dl-basics-exercises",
            "version": project["version"],
            "description": "Exercises of the deep-learning basics chapter in JAX, with their grader",
            "readme": "README.md",
            "requires-python": project["requires-python"],
            "dependencies": project["dependencies"],
            "optional-dependencies": {"student": project["optional-dependencies"]["student"]},
            "scripts": project["scripts"],
        },
        "tool": {
            "setuptools": kit["tool"]["setuptools"],
            "pytest": {"ini_options": {**kit["tool"]["pytest"]["ini_options"], "testpaths": [SUBMISSION]}},
        },
    }
    return ("# The grader of the exercises, installable with `pip install -e \".[student]\"` (the `grade` command and\n"
            "# the pytest plugin that `pytest exercises/` uses). Written by `grade release`.\n\n" + tomli_w.dumps(data))


# --- the workflow and .gitignore ---------------------------------------------------------------------------

def autograde_workflow() -> str:
    """The student repository's workflow, with the pinned actions and the shared grade commands filled in."""
    values = {action: uses(action) for action in ACTIONS}
    values.update(
        grade=f"{command_line(GRADE_ARGS)} {REFERENCE_OPTION}",
        renders="\n".join(" " * 10 + command_line(render_args(fmt)) for fmt in RENDERED),
        classroom=command_line(render_args(CLASSROOM)),
        markdown=RENDERED["markdown"],
        report_files="\n".join(" " * 12 + name for name in report_files()),
        artifact=ARTIFACT,
        marker=COMMENT_MARKER,
        solutions_checkout=SOLUTIONS_CHECKOUT,
    )
    return templating.fill(WORKFLOW_TEMPLATE, values)


GITIGNORE = "\n".join([".venv/", "__pycache__/", "*.pyc", "*.egg-info/", ".pytest_cache/", f"{SOLUTIONS_CHECKOUT}/",
                       REPORT_JSON, *RENDERED.values(), f"{FIGURES_DIR}/"]) + "\n"


# --- grade release -----------------------------------------------------------------------------------------

# Kit-only grader modules, built from solutions/: build.py makes exercises/ and holds the solution markers,
# course.py makes the nbgrader course (and needs build.py).
KIT_ONLY = ("build.py", "course.py")
STUDENT_NOTE = "# Your exercises: fill in the functions marked YOUR CODE HERE, then run `pytest exercises/`.\n"


def _ignore(*extra: str):
    return shutil.ignore_patterns("__pycache__", "*.pyc", *extra)


def copy_exercises(target: Path) -> None:
    """``exercises/`` with the note "generated from solutions" replaced by a note for students."""
    from grader.authoring.build import GENERATED_NOTE

    shutil.copytree(KIT / SUBMISSION, target, ignore=_ignore())
    for path in target.rglob("*.py"):
        text = path.read_text()
        if text.startswith(GENERATED_NOTE):
            path.write_text(STUDENT_NOTE + text[len(GENERATED_NOTE):])


def release_files() -> dict[str, str]:
    """The generated files of a release (relative path → text)."""
    kit_pyproject = tomllib.loads((KIT / "pyproject.toml").read_text())
    return {
        "pyproject.toml": student_pyproject(kit_pyproject),
        "README.md": student_readme(ARTIFACT, FIGURES_DIR),
        ".github/workflows/autograde.yml": autograde_workflow(),
        ".gitignore": GITIGNORE,
    }


def write_release(target: Path) -> None:
    """Write the student repository into ``target``, replacing what an earlier release wrote there."""
    target.mkdir(parents=True, exist_ok=True)
    for folder in (SUBMISSION, "grader"):
        shutil.rmtree(target / folder, ignore_errors=True)
    copy_exercises(target / SUBMISSION)
    shutil.copytree(GRADER, target / "grader", ignore=_ignore(*KIT_ONLY))
    for rel, text in release_files().items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def solution_leaks(root: Path) -> list[str]:
    """Paths under ``root`` that hold solution code: a ``solutions/`` folder, or a file with solution markers."""
    from grader.authoring.build import has_solution

    leaks = [str(p.relative_to(root)) for p in root.rglob("solutions") if p.is_dir()]
    for path in root.rglob("*.py"):
        if has_solution(path.read_text(errors="replace")):
            leaks.append(str(path.relative_to(root)))
    return leaks


def kit_problems(target: Path) -> list[str]:
    """Why a release cannot be written into ``target`` now (empty when it can): the kit must be present, its
    exercises built from its current solutions, and ``target`` outside its sources."""
    if not (KIT / "solutions").is_dir():
        return [f"no solutions/ beside {GRADER}: release from the kit"]
    target = target.resolve()
    if target == KIT or any(target.is_relative_to(KIT / d) for d in (SUBMISSION, "grader", "solutions")):
        return [f"{target} is inside the kit's sources"]
    from grader.authoring import build

    drift = build.drift(build.build_exercises(), KIT / SUBMISSION)
    return [f"exercises/{problem} (run python -m grader.authoring.build)" for problem in drift]


def main(argv: list[str] | None = None) -> int:
    """``grade release DIR [--force]``."""
    parser = argparse.ArgumentParser(prog="grade release",
                                     description="Write a student template repository (no solution code) into DIR.")
    parser.add_argument("dir", help="where to write the repository (new or empty)")
    parser.add_argument("--force", action="store_true",
                        help="write into a non-empty DIR, replacing the files a release writes")
    parser.add_argument("--course", metavar="FILE",
                        help="the course file to ship with the template (default: grading.toml here, if any)")
    args = parser.parse_args(argv)
    from grader.options import GradeOptions
    GradeOptions(course=args.course).with_course()  # the template's checks and README follow the course's rubric
    target = Path(args.dir)
    if target.exists() and not target.is_dir():
        raise CannotRun(f"{target} is not a directory", command="grade release")
    if target.is_dir() and any(target.iterdir()) and not args.force:
        raise CannotRun(f"{target} is not empty (use --force to write into it anyway)", command="grade release")
    problems = kit_problems(target)
    if problems:
        raise CannotRun("cannot release: " + "; ".join(problems), command="grade release")
    write_release(target)
    from grader import course_file as course
    course.current().write_into(target)  # the student's pytest and CI grade with the course's rubric
    leaks = solution_leaks(target)
    if leaks:
        raise CannotRun("solution code in the release: " + ", ".join(leaks), command="grade release")
    print(f"wrote the student repository to {target}")
    return 0


if __name__ == "__main__":  # the command's errors become a message and a status where grade's do
    from grader import cli
    args = sys.argv[1:]
    sys.exit(cli.main(args if args[:1] == ["render"] else ["release", *args]))

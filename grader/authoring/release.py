"""A student template repository, graded on every push and pull request.

    grade release DIR [--force]                     (also: python -m grader.authoring.release DIR)
    grade render REPORT.json --format FORMAT [--output FILE]
                                                    (also: python -m grader.authoring.release render ...)

``grade release DIR`` writes a repository for students to start from (a GitHub Classroom template, say):

- ``exercises/``: the stubs and their tests, as in the kit;
- ``grader/`` and a ``pyproject.toml``: the grader, installable with ``pip install -e ".[student]"`` (the
  ``grade`` command and the pytest plugin), with the kit's pinned dependencies (its ``student`` extra, none of the
  instructors' tools) and no solution code: the kit-only modules (:data:`KIT_ONLY`) are left out by their path;
- ``README.md``: how to test and how grading works, with the training thresholds read from the rubric
  (:mod:`grader.authoring.student_readme`);
- ``.github/workflows/autograde.yml`` and ``.gitignore``: the workflow that grades every push and pull request
  and renders the reports (:mod:`grader.authoring.workflow`; ``grade render`` is :mod:`grader.authoring.render`).

The templates are package data of ``grader`` (:mod:`grader.authoring.templating`), so the ``grader/`` a release
copies carries them. This module is the entry point of both commands; it also offers the workflow's and the
renderer's names its callers have always found here.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tomllib
from pathlib import Path

import tomli_w

from grader import PACKAGE_DIR
from grader.authoring.render import classroom, load_result, render_main
from grader.authoring.student_readme import student_readme
from grader.authoring.workflow import (
    ACTIONS,
    ARTIFACT,
    CLASSROOM,
    COMMENT_MARKER,
    FIGURES_DIR,
    GITIGNORE,
    GRADE_ARGS,
    REFERENCE_OPTION,
    RENDER_FORMATS,
    RENDERED,
    REPORT_JSON,
    SOLUTIONS_CHECKOUT,
    SUBMISSION,
    WORKFLOW_TEMPLATE,
    autograde_workflow,
    command_line,
    render_args,
    report_files,
    uses,
    workflow_commands,
)
from grader.errors import CannotRun

__all__ = ["ACTIONS", "ARTIFACT", "CLASSROOM", "COMMENT_MARKER", "FIGURES_DIR", "GITIGNORE", "GRADE_ARGS", "GRADER",
           "KIT", "KIT_ONLY", "REFERENCE_OPTION", "RENDER_FORMATS", "RENDERED", "REPORT_JSON", "SOLUTIONS_CHECKOUT",
           "SUBMISSION", "WORKFLOW_TEMPLATE", "autograde_workflow", "classroom", "command_line", "copy_exercises",
           "kit_problems", "load_result", "main", "release_files", "render_args", "render_main", "report_files",
           "solution_leaks", "student_pyproject", "uses", "workflow_commands", "write_release"]

GRADER = PACKAGE_DIR
KIT = GRADER.parent

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


# --- grade release -----------------------------------------------------------------------------------------

# Kit-only grader modules, by their path in grader/ (a module of the same name elsewhere ships), built from
# solutions/: build.py makes exercises/ and holds the solution markers, course.py makes the nbgrader course (and
# needs build.py).
KIT_ONLY = ("authoring/build.py", "authoring/course.py")
STUDENT_NOTE = "# Your exercises: fill in the functions marked YOUR CODE HERE, then run `pytest exercises/`.\n"


def _ignore(*extra: str):
    """What a copy of the kit's folders leaves out: caches, and files named by the ``extra`` patterns."""
    return shutil.ignore_patterns("__pycache__", "*.pyc", *extra)


def _grader_ignore(folder: str, names: list[str]) -> set[str]:
    """What the release's copy of the grader leaves out: caches and the kit-only modules (:data:`KIT_ONLY`)."""
    relative = Path(folder).relative_to(GRADER)
    return set(_ignore()(folder, names)) | {name for name in names if (relative / name).as_posix() in KIT_ONLY}


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
    shutil.copytree(GRADER, target / "grader", ignore=_grader_ignore)
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

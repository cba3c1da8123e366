"""The student repository's workflow (``.github/workflows/autograde.yml``, the template
``grader/authoring/templates/autograde.yml`` filled in) and its ``.gitignore``.

On every push and pull request the workflow grades ``exercises/`` once into ``grade.json``, renders the other
formats from that file (:mod:`grader.authoring.render`), writes the Markdown report to the job summary, uploads the
reports, keeps one comment with the grade on the pull request up to date, and reports the points as GitHub
Classroom's autograding reporter does. It keeps the kit's cache folder (:mod:`grader.engine.cache_dir`: the
compilation cache, which it fills with ``grade warm`` when none was restored, and the reference's observations) with
``actions/cache``, keyed on ``pyproject.toml`` (the kit's version and pins) and the grader's sources, so a run does
not compile afresh.

The workflow grades against the trusted library references. An instructor who wants their own solutions as
the reference stores a token that can read their private solutions repository as the secret
``INSTRUCTOR_SOLUTIONS_TOKEN`` and the repository's name (``owner/name``) as the variable
``INSTRUCTOR_SOLUTIONS_REPO`` (``INSTRUCTOR_SOLUTIONS_PATH``, default ``solutions``, is the folder in it);
the workflow then checks that folder out and passes it as ``--reference``. A secret is readable by anyone who
can change the repository's workflows, students included: use it only where that is acceptable.

The workflow's commands are built here from :data:`GRADE_ARGS` and :func:`render_args`, and the kit's tests
run the same commands in a release, so the workflow runs what was tested.
"""

from __future__ import annotations

import shlex

from grader.authoring import templating
from grader.reports import report

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

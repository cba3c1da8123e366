"""A student template repository, graded on every push and pull request; and saved reports re-rendered.

    grade release DIR [--force]                     (also: python -m grader.release DIR)
    grade render REPORT.json --format FORMAT [--output FILE]
                                                    (also: python -m grader.release render ...)

``grade release DIR`` writes a repository for students to start from (a GitHub Classroom template, say):

- ``exercises/``: the stubs and their tests, as in the kit;
- ``grader/`` and a ``pyproject.toml``: the grader, installable with ``pip install -e .`` (the ``grade``
  command and the pytest plugin), with the kit's pinned dependencies and no solution code;
- ``README.md``: how to test and how grading works, with the training thresholds read from the rubric;
- ``.github/workflows/autograde.yml``: on every push and pull request it grades ``exercises/`` once into
  ``grade.json``, renders the other formats from that file, writes the Markdown report to the job summary,
  uploads the reports, keeps one comment with the grade on the pull request up to date, and reports the
  points as GitHub Classroom's autograding reporter does;
- ``.gitignore``.

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

import argparse
import json
import re
import shlex
import shutil
import sys
import textwrap
import tomllib
from pathlib import Path

from . import report, rubric
from .result import Result, fmt_points

GRADER = Path(__file__).resolve().parent
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
        print(f"grade render: cannot read {args.report}: {exc}", file=sys.stderr)
        return 2
    text = classroom(result) if args.format == CLASSROOM else report.render(result, args.format)
    if args.output:
        try:
            Path(args.output).write_text(text)
        except OSError as exc:
            print(f"grade render: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    else:
        sys.stdout.write(text)
    return 0


# --- pyproject.toml ----------------------------------------------------------------------------------------

def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        if len(value) <= 1:
            return "[" + ", ".join(_toml_value(v) for v in value) + "]"
        return "[\n" + "".join(f"    {_toml_value(v)},\n" for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def to_toml(data: dict, prefix: str = "") -> str:
    """TOML text of ``data``: plain values first, then one table per nested dict."""
    plain = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    out = ([f"[{prefix}]"] if prefix and plain else []) + plain
    chunks = ["\n".join(out)] if out else []
    for key, value in data.items():
        if isinstance(value, dict):
            chunks.append(to_toml(value, f"{prefix}.{_toml_key(key)}" if prefix else _toml_key(key)))
    return "\n\n".join(c for c in chunks if c)


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
            "scripts": project["scripts"],
        },
        "tool": {
            "setuptools": kit["tool"]["setuptools"],
            "pytest": {"ini_options": {**kit["tool"]["pytest"]["ini_options"], "testpaths": [SUBMISSION]}},
        },
    }
    return ("# The grader of the exercises, installable with `pip install -e .` (the `grade` command and the pytest\n"
            "# plugin that `pytest exercises/` uses). Written by `grade release`.\n\n" + to_toml(data) + "\n")


# --- README.md ---------------------------------------------------------------------------------------------

def _settings_table(docstring: str) -> list[list[str]]:
    """Rows of the first reStructuredText simple table in ``docstring`` (cells split on runs of spaces)."""
    lines = docstring.splitlines()
    rules = [i for i, line in enumerate(lines) if re.fullmatch(r"=+( +=+)+", line.strip())]
    if len(rules) < 3:
        raise ValueError("no settings table found")
    header, body = lines[rules[0] + 1], lines[rules[1] + 1:rules[2]]
    return [re.split(r"\s{2,}", row.strip()) for row in [header, *body] if row.strip()]


def training_settings() -> dict[str, dict[str, str]]:
    """Label, batch size, learning rate and epochs of each training task, from the settings table that
    documents :mod:`grader.checks.training` (the kit's tests check it against that module's constants)."""
    from .checks import training

    header, *rows = _settings_table(training.__doc__)
    columns = [h.lower() for h in header]
    settings = {}
    for row in rows:
        cells = dict(zip(columns, row))
        settings[cells["task"].split()[0]] = {"label": cells["task"].replace("_", " "),
                                              **{k: cells[k] for k in ("batch", "lr", "epochs")}}
    return settings


CRITERIA = {
    "linear_regression": "largest error of w and b ≤ {t}",
    "softmax_regression": "test accuracy on digits ≥ {t}",
    "mlp": "test accuracy on digits ≥ {t}",
    "weight_decay": "test loss with λ = 3 ≤ {t}, and below λ = 0's",
}


def training_checks() -> list[rubric.Check]:
    return [c for c in rubric.CHECKS if c.target not in rubric.STUDENT_FUNCTIONS]


def _functions_table() -> str:
    points: dict[str, float] = {}
    for c in rubric.CHECKS:
        points[c.target] = points.get(c.target, 0.0) + c.points
    rows = [f"| `{name}` | `exercises/{module}.py` | {fmt_points(points.get(name, 0))} |"
            for name, module in rubric.STUDENT_FUNCTIONS.items()]
    return "\n".join(["| function | file | points |", "|---|---|---:|", *rows])


def _training_table() -> str:
    settings = training_settings()
    rows = []
    for check in training_checks():
        s = settings.get(check.target, {})
        setting = f"batch {s['batch']}, lr {s['lr']}, {s['epochs']} epochs" if s else ""
        parts = ", ".join(f"`{f}`" for f in rubric.PROBES[check.probe].uses)
        criterion = CRITERIA.get(check.target, check.description + " (threshold {t})").format(t=f"{check.threshold:g}")
        label = s.get("label", check.target.replace("_", " "))
        rows.append(f"| {label} | {parts} | {setting} | {criterion} | {fmt_points(check.points)} |")
    return "\n".join(["| training | your parts | settings | passes when | points |",
                      "|---|---|---|---|---:|", *rows])


def student_readme() -> str:
    """The students' README: how to test, how grading works, the points and the training thresholds."""
    total = fmt_points(rubric.MAX_SCORE)
    return textwrap.dedent("""\
        # Deep-learning basics: exercises

        Fill in six functions of the "linear neural networks" and "multilayer perceptrons" chapters of
        *Dive into Deep Learning*, in JAX. Each one is a stub marked `# YOUR CODE HERE` that raises
        `NotImplementedError` with a hint:

        @FUNCTIONS@

        The rest of the points ({training} of {total}) come from models trained with your functions (below).

        ## Test your work

        ```bash
        python3 -m pip install -e .       # Python 3.11 or newer: the grader and its pinned dependencies
        pytest exercises/                 # every check; the summary prints your score per function
        pytest exercises/ --dl-only softmax  # the checks of one function (and the training that uses it)
        python -m exercises.mlp           # run one section: its training prints the loss per epoch
        grade exercises/                  # the whole report, as the autograder prints it
        ```

        Every failing test says what the grader saw and the likely bug. The tests are the rubric's checks: the
        points you see here are the points you get.

        ## How you are graded

        - **On every push and every pull request** the workflow *Autograding Tests*
          (`.github/workflows/autograde.yml`) runs the same checks on your `exercises/` with the same grader.
          Its job summary shows the report: a table per function and, for every failed check, the feedback.
        - **On a pull request** it also posts one comment with your grade and updates that comment on every
          push, so the pull request always shows the score of its latest commit.
        - The reports (JSON, JUnit XML and Gradescope's `results.json`) and the folder `{figures}/` (your
          training curves beside the reference's, and `report.md` linking them) are attached to each run as
          the artifact `{artifact}`, and the points are reported to GitHub Classroom when the repository
          belongs to a classroom. `pytest exercises/ --dl-report-dir figures/` draws the same curves locally.
        - Your code runs in a sandbox: a separate process working on a copy of `exercises/`, with limits on
          memory, CPU time and output, and at most {limit} seconds per function or training run. A crash, an
          endless loop or a `NaN` costs only the checks it touches, each with a message.
        - Leave `grader/`, `pyproject.toml` and `.github/` as they are: they belong to your instructor, who may
          grade again with their own copy.

        ## Training checks

        Each training uses your function(s) of that section, and trusted library versions of the parts from
        other sections, so a bug costs points in its own section only. The data are scikit-learn's digits
        (8×8 images, ten classes) and a seeded synthetic regression problem; the seeds are fixed, so a run
        gives the same result every time. When your instructor grades, hidden checks test the same properties
        of each function on other inputs, drawn from a secret (code that works for any input of the kind the
        exercise describes passes them); here they are listed as not run.

        @TRAINING@
        """).format(training=fmt_points(sum(c.points for c in training_checks())), total=total,
                    artifact=ARTIFACT, figures=FIGURES_DIR, limit=_time_limit()).replace(
        "@FUNCTIONS@", _functions_table()).replace("@TRAINING@", _training_table())


def _time_limit() -> str:
    from .sandbox import Limits

    return f"{Limits().probe_seconds:g}"


# --- the workflow and .gitignore ---------------------------------------------------------------------------

WORKFLOW = """\
# Autograding: grade exercises/ on every push and pull request.
# Written by `grade release` from the grading kit; the kit's tests run the same grade commands.
#
# Optional reference solutions of the instructor: set the repository (or organisation) secret
# INSTRUCTOR_SOLUTIONS_TOKEN to a token that can read a private repository, the variable
# INSTRUCTOR_SOLUTIONS_REPO to that repository (owner/name) and, if the solutions are not in its folder
# `solutions`, INSTRUCTOR_SOLUTIONS_PATH to their folder. Without them the trusted library references
# are used. Anyone who can change this workflow can read the secret: use it only where that is acceptable.
#
# GitHub Classroom reads the points from the "Autograding complete" notice ("Points X/Y") of this
# workflow, whose name and grading job id are the ones Classroom's own template uses.
name: Autograding Tests

on:
  push:
  pull_request:
  workflow_dispatch:

permissions:
  contents: read

concurrency:
  group: autograde-${{ github.event_name }}-${{ github.ref }}
  cancel-in-progress: true

jobs:
  run-autograding-tests:
    if: github.actor != 'github-classroom[bot]'
    runs-on: ubuntu-latest
    timeout-minutes: 30
    permissions:
      contents: read
    env:
      HAS_SOLUTIONS_TOKEN: ${{ secrets.INSTRUCTOR_SOLUTIONS_TOKEN != '' }}
      SOLUTIONS_REPO: ${{ vars.INSTRUCTOR_SOLUTIONS_REPO }}
      SOLUTIONS_PATH: ${{ vars.INSTRUCTOR_SOLUTIONS_PATH || 'solutions' }}
    steps:
      - name: Check out the submission
        uses: @checkout@
        with:
          persist-credentials: false

      - name: Check out the instructor's solutions (optional)
        id: solutions
        if: env.HAS_SOLUTIONS_TOKEN == 'true' && env.SOLUTIONS_REPO != ''
        uses: @checkout@
        with:
          repository: ${{ env.SOLUTIONS_REPO }}
          token: ${{ secrets.INSTRUCTOR_SOLUTIONS_TOKEN }}
          path: @solutions_checkout@
          sparse-checkout: ${{ env.SOLUTIONS_PATH }}
          persist-credentials: false

      - name: Set up Python
        uses: @setup-python@
        with:
          python-version: "3.11"
          cache: pip
          cache-dependency-path: pyproject.toml

      - name: Install the grader
        run: python -m pip install -e .

      - name: Let the grader's sandbox use namespaces
        # Ubuntu runners restrict unprivileged user namespaces through AppArmor; the sandbox adds user,
        # network, PID and mount namespaces to Landlock and seccomp when they are allowed.
        run: sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 || true

      - name: Grade
        env:
          REFERENCE: ${{ steps.solutions.outcome == 'success' && format('@solutions_checkout@/{0}', env.SOLUTIONS_PATH) || '' }}
        run: @grade@

      - name: Remove the instructor's solutions
        if: always()
        run: rm -rf @solutions_checkout@

      - name: Render the reports
        run: |
@renders@
          cat @markdown@ >> "$GITHUB_STEP_SUMMARY"

      - name: Report the points to GitHub Classroom
        run: @classroom@

      - name: Upload the reports
        uses: @upload-artifact@
        with:
          name: @artifact@
          path: |
@report_files@
          if-no-files-found: error

  comment:
    needs: run-autograding-tests
    if: github.event_name == 'pull_request' && github.event.pull_request.head.repo.full_name == github.repository
    runs-on: ubuntu-latest
    timeout-minutes: 5
    permissions:
      pull-requests: write
    steps:
      - name: Download the reports
        uses: @download-artifact@
        with:
          name: @artifact@

      - name: Post or update the grade comment
        uses: @github-script@
        env:
          MARKER: "@marker@"
          REPORT: @markdown@
        with:
          script: |
            const fs = require("fs");
            const { owner, repo } = context.repo;
            const issue_number = context.issue.number;
            const run = `${context.serverUrl}/${owner}/${repo}/actions/runs/${context.runId}`;
            const report = fs.readFileSync(process.env.REPORT, "utf8");
            const body = `${process.env.MARKER}\\n${report}\\n[Run and reports](${run})\\n`;
            const comments = await github.paginate(github.rest.issues.listComments,
                                                   { owner, repo, issue_number, per_page: 100 });
            const previous = comments.find(c => c.user.type === "Bot" && c.body.includes(process.env.MARKER));
            if (previous) {
              await github.rest.issues.updateComment({ owner, repo, comment_id: previous.id, body });
            } else {
              await github.rest.issues.createComment({ owner, repo, issue_number, body });
            }
"""


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
    return re.sub(r"@([a-z_-]+)@", lambda m: values[m.group(1)], WORKFLOW)


GITIGNORE = "\n".join([".venv/", "__pycache__/", "*.pyc", "*.egg-info/", ".pytest_cache/", f"{SOLUTIONS_CHECKOUT}/",
                       REPORT_JSON, *RENDERED.values()]) + "\n"


# --- grade release -----------------------------------------------------------------------------------------

# Kit-only grader modules, built from solutions/: build.py makes exercises/ and holds the solution markers,
# course.py makes the nbgrader course (and needs build.py).
KIT_ONLY = ("build.py", "course.py")
STUDENT_NOTE = "# Your exercises: fill in the functions marked YOUR CODE HERE, then run `pytest exercises/`.\n"


def _ignore(*extra: str):
    return shutil.ignore_patterns("__pycache__", "*.pyc", *extra)


def copy_exercises(target: Path) -> None:
    """``exercises/`` with the note "generated from solutions" replaced by a note for students."""
    from .build import GENERATED_NOTE

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
        "README.md": student_readme(),
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
    from .build import has_solution

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
    from . import build

    drift = build.drift(build.build_exercises(), KIT / SUBMISSION)
    return [f"exercises/{problem} (run python -m grader.build)" for problem in drift]


def main(argv: list[str] | None = None) -> int:
    """``grade release DIR [--force]``."""
    parser = argparse.ArgumentParser(prog="grade release",
                                     description="Write a student template repository (no solution code) into DIR.")
    parser.add_argument("dir", help="where to write the repository (new or empty)")
    parser.add_argument("--force", action="store_true",
                        help="write into a non-empty DIR, replacing the files a release writes")
    args = parser.parse_args(argv)
    target = Path(args.dir)
    if target.exists() and not target.is_dir():
        print(f"grade release: {target} is not a directory", file=sys.stderr)
        return 2
    if target.is_dir() and any(target.iterdir()) and not args.force:
        print(f"grade release: {target} is not empty (use --force to write into it anyway)", file=sys.stderr)
        return 2
    problems = kit_problems(target)
    if problems:
        print("grade release: cannot release: " + "; ".join(problems), file=sys.stderr)
        return 2
    write_release(target)
    leaks = solution_leaks(target)
    if leaks:
        print("grade release: solution code in the release: " + ", ".join(leaks), file=sys.stderr)
        return 2
    print(f"wrote the student repository to {target}")
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    sys.exit(render_main(args[1:]) if args[:1] == ["render"] else main(args))

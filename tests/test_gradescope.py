"""``grade gradescope``: the autograder folder, and its real ``run_autograder`` on a simulated ``/autograder``.

Gradescope unpacks the autograder into ``/autograder/source``, copies ``run_autograder`` to ``/autograder``,
puts the student's files in ``/autograder/submission`` and reads ``/autograder/results/results.json``. The
tests lay that out in a temporary folder (``AUTOGRADER_ROOT``) and run the script with bash, with this
checkout's ``grade`` on PATH (``setup.sh`` is not run: it would install the kit with pip) and a throwaway
HOME whose cache is seeded with the suite's trusted caches. Four submissions are graded: the solutions at
the top level, the stubs inside a repository folder (beside a FIFO and a folder named to forge a line of a
listing), the solutions in ``exercises/`` beside a broken decoy at the top level, and an upload holding only a
link to the kit's solutions.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from grader import cli, rubric
from grader.authoring import gradescope
from grader.engine import secret
from grader.reports import report
from grader.reports.result import CheckResult, Result

from . import caches
from .conftest import KIT

METADATA = {"id": 987654, "created_at": "2026-01-01T12:00:00.000000-08:00", "submission_method": "upload",
            "users": [{"email": "student@example.com", "id": 1234, "name": "Student User"}],
            "previous_submissions": []}
NO_PYCACHE = shutil.ignore_patterns("__pycache__", "*.pyc")
VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}


@pytest.fixture(scope="module")
def autograder(tmp_path_factory) -> Path:
    return gradescope.write_autograder(tmp_path_factory.mktemp("written") / "autograder")


def simulate(tmp: Path, autograder: Path, place, metadata: dict | None = METADATA) -> Path:
    """``/autograder`` as Gradescope lays it out for one submission; ``place(folder)`` fills the submission."""
    root = tmp / "autograder"
    shutil.copytree(autograder, root / "source")
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
    (root / "submission").mkdir()
    place(root / "submission")
    (root / "results").mkdir()
    if metadata is not None:
        (root / "submission_metadata.json").write_text(json.dumps(metadata))
    return root


def run_autograder(root: Path, home: Path) -> tuple[dict, subprocess.CompletedProcess]:
    caches.seed(home / "cache")
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), HOME=str(home), XDG_CACHE_HOME=str(home / "cache"),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.run(["bash", str(root / "run_autograder")], cwd=root, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return json.loads((root / "results" / "results.json").read_text()), proc


def check_shape(results: dict, hidden: bool = False) -> None:
    """What every graded results.json holds: one test per check, in rubric order, with Gradescope's fields; with
    the instructor's secret (``hidden``) the hidden checks too, shown once the grades are published."""
    assert results["output_format"] == "md" and results["test_output_format"] == "text"
    assert all(t.get("output_format") == "text" for t in results["tests"])  # the student's exception, as typed
    expected = [c.id for c in rubric.CHECKS] + ([c.id for c in rubric.HIDDEN_CHECKS] if hidden else [])
    assert [t["name"].split(":")[0] for t in results["tests"]] == expected
    for t in results["tests"]:
        is_hidden = t["name"].split(":")[0] in {c.id for c in rubric.HIDDEN_CHECKS}
        assert t["visibility"] == ("after_published" if is_hidden else "visible"), t
    for t in results["tests"]:
        assert t["visibility"] in VISIBILITIES and t["status"] in ("passed", "failed"), t
        assert (t["status"] == "passed") == (t["score"] == t["max_score"]), t
    assert results["score"] == sum(t["score"] for t in results["tests"])
    assert {"environment", "isolation"} <= set(results["extra_data"])


# --- the folder --------------------------------------------------------------------------------------------

def pins_in(setup: str) -> list[str]:
    block = setup.split("PINS=(\n", 1)[1].split("\n)", 1)[0]
    return [line.strip().strip("'\"") for line in block.splitlines()]


@pytest.mark.end_to_end
def test_autograder_folder(autograder):
    assert {p.name for p in autograder.iterdir()} == {"setup.sh", "run_autograder", "README.md", "kit"}
    for script in ("setup.sh", "run_autograder"):
        path = autograder / script
        assert path.stat().st_mode & stat.S_IXUSR and path.read_text().startswith("#!/usr/bin/env bash\n")
        subprocess.run(["bash", "-n", str(path)], check=True)  # it parses
    kit = autograder / "kit"
    assert {p.name for p in kit.iterdir()} == {"pyproject.toml", "README.md", "grader", "solutions"}
    assert (kit / "pyproject.toml").read_bytes() == (KIT / "pyproject.toml").read_bytes()
    for folder in ("grader", "solutions"):
        copied = {p.relative_to(kit / folder) for p in (kit / folder).rglob("*.py")}
        assert copied == {p.relative_to(KIT / folder) for p in (KIT / folder).rglob("*.py")
                          if "__pycache__" not in p.parts}
    templates = KIT / "grader" / "authoring" / "templates"  # package data: grade release fills them in
    assert {p.name: p.read_bytes() for p in (kit / "grader" / "authoring" / "templates").iterdir()} == {
        p.name: p.read_bytes() for p in templates.iterdir()}
    assert not [p for p in autograder.rglob("*") if p.name in ("__pycache__", "tests", ".git", "exercises")]

    setup = (autograder / "setup.sh").read_text()
    pyproject = tomllib.loads((KIT / "pyproject.toml").read_text())
    assert pins_in(setup) == pyproject["project"]["dependencies"]
    assert all("==" in pin for pin in pins_in(setup))
    assert '-m pip install --no-cache-dir -e "$KIT" "${PINS[@]}"' in setup
    assert "\ngrade warm\n" in setup and "-m venv" in setup
    assert pyproject["project"]["requires-python"] == ">=3.11" and "sys.version_info < (3, 11)" in setup
    run = (autograder / "run_autograder").read_text()
    assert 'ROOT="${AUTOGRADER_ROOT:-/autograder}"' in run
    assert "--format gradescope --output \"$RESULTS\" --quiet" in run
    assert "cd " in (autograder / "README.md").read_text() and "zip -r ../autograder.zip ." in (
        autograder / "README.md").read_text()


def test_refuses_a_non_empty_folder_and_copies_the_secret(tmp_path, capsys):
    target = tmp_path / "autograder"
    target.mkdir()
    (target / "notes.txt").write_text("mine\n")
    assert cli.main(["gradescope", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("grade gradescope: ") and "not empty" in err and "--force" in err
    assert {p.name for p in target.iterdir()} == {"notes.txt"}

    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("0123456789abcdef0123456789abcdef\n")
    assert cli.main(["gradescope", str(target), "--force", "--secret-file", str(secret_file)]) == 0
    copied = target / "secret"
    assert copied.read_bytes() == secret_file.read_bytes() and stat.S_IMODE(copied.stat().st_mode) == 0o600
    assert "secret" in (target / "README.md").read_text()
    assert cli.main(["gradescope", str(target), "--force"]) == 0  # the folder is what this command wrote
    assert not copied.exists() and (target / "setup.sh").is_file()
    capsys.readouterr()
    assert cli.main(["gradescope", str(tmp_path / "other"), "--secret-file", str(tmp_path / "missing")]) == 2
    assert "missing" in capsys.readouterr().err and not (tmp_path / "other").exists()
    assert cli.main(["gradescope", str(KIT / "solutions" / "autograder")]) == 2
    assert "inside the kit's sources" in capsys.readouterr().err and not (KIT / "solutions" / "autograder").exists()


# --- results.json ------------------------------------------------------------------------------------------

def partial_result(hidden: bool) -> Result:
    """Every public check passed but relu.values, on a third of its points; with ``hidden``, the hidden checks too,
    softmax.hidden on 7 of its 9 public checks."""
    def outcome(c, hidden_check):
        fraction = {"relu.values": 1 / 3, "softmax.hidden": 7 / 9}.get(c.id, 1.0)
        return CheckResult(c.id, c.target, round(c.points * fraction, 4), c.points, fraction == 1.0,
                           "ok" if fraction == 1.0 else "wrong", hidden=hidden_check)
    checks = [outcome(c, False) for c in rubric.CHECKS] + [outcome(c, True) for c in rubric.HIDDEN_CHECKS if hidden]
    return Result(tuple(checks))


def test_results_json_points_and_summary():
    """The score, the tests' points and the summary give the same numbers, to two decimals; while the hidden checks
    wait for the grades to be published, the summary scores the checks shown and gives the total's maximum."""
    relu = rubric.BY_ID["relu.values"].points
    for hidden in (False, True):
        out = json.loads(report.render(partial_result(hidden), "gradescope", seconds=8.25))
        scores = [t["score"] for t in out["tests"]]
        assert all(round(x, 2) == x for x in scores) and out["score"] == round(sum(scores), 2)
        maximum = sum(t["max_score"] for t in out["tests"])
        assert maximum == 100 + (rubric.HIDDEN_MAX_SCORE if hidden else 0)
        assert "leaderboard" not in out and out["execution_time"] == 8
        shown = f"{100 - relu + round(relu / 3, 2):g} / 100"
        if hidden:
            assert out["score"] == round(float(shown.split(" /")[0]) + rubric.HIDDEN_MAX_SCORE - 3 + 2.33, 2)
            assert out["output"].startswith(
                f"**Score on the checks shown now: {shown}**\n\n{len(rubric.HIDDEN_CHECKS)} more checks, worth "
                f"{rubric.HIDDEN_MAX_SCORE:g} points, are shown when your instructor publishes the grades: the total "
                f"is out of {maximum:g}.\n"), out["output"]
        else:
            assert out["output"].startswith(f"**Score: {out['score']:g} / {maximum:g}**\n") and shown in out["output"]
    assert "execution_time" not in json.loads(report.render(partial_result(False), "gradescope"))


# --- run_autograder, for real --------------------------------------------------------------------------------

SECRET_TEXT = "gradescope-test-" + "9f" * 16


@pytest.fixture(scope="module")
def solutions_run(tmp_path_factory) -> tuple[dict, subprocess.CompletedProcess]:
    """The solutions uploaded as loose files (the top level of the submission), graded by an autograder that
    holds the instructor's secret: the hidden checks run, on inputs drawn from it and the student's id."""
    tmp = tmp_path_factory.mktemp("solutions-run")
    (tmp / "secret").write_text(SECRET_TEXT)
    with_secret = gradescope.write_autograder(tmp / "written", secret_file=tmp / "secret")
    root = simulate(tmp, with_secret, lambda sub: shutil.copytree(KIT / "solutions", sub, dirs_exist_ok=True,
                                                                  ignore=NO_PYCACHE))
    return run_autograder(root, tmp / "home")


@pytest.mark.end_to_end
def test_solutions_full_marks(solutions_run):
    results, proc = solutions_run
    check_shape(results, hidden=True)
    assert results["score"] == sum(t["max_score"] for t in results["tests"]) == 100 + rubric.HIDDEN_MAX_SCORE
    assert results["extra_data"]["environment"]["secret"] == secret.Secret(SECRET_TEXT.encode()).fingerprint()
    assert SECRET_TEXT not in json.dumps(results) and SECRET_TEXT not in proc.stdout + proc.stderr
    assert all(t["status"] == "passed" and t["output"] == "passed" for t in results["tests"])
    assert results["output"].startswith("**Score on the checks shown now: 100 / 100**")
    assert f"the total is out of {100 + rubric.HIDDEN_MAX_SCORE:g}" in results["output"]
    assert "Every check passes." in results["output"]
    assert "grading submission\n" in proc.stdout
    assert (f"score {100 + rubric.HIDDEN_MAX_SCORE:.1f} | sandbox: {results['extra_data']['isolation']['summary']}\n"
            in proc.stdout)


@pytest.mark.end_to_end
def test_solutions_without_a_leaderboard(solutions_run):
    """Every correct submission trains the same models: no leaderboard to rank them by rounding or time."""
    results, _ = solutions_run
    assert "leaderboard" not in results and results["execution_time"] > 0


@pytest.mark.end_to_end
def test_stubs_in_a_repository_folder(autograder, tmp_path):
    """The stubs, uploaded as a repository folder (the shallowest folder holding the exercise files is graded),
    with two attacks beside them: a FIFO named ``helpers.py`` (a copy of it blocked the grader's read), and a
    folder whose name holds a newline and a tab, nested so that a listing of the folders one line each would
    name the kit's own ``solutions/`` as the shallowest."""
    def place(sub: Path) -> None:
        shutil.copytree(KIT / "exercises", sub / "dl-basics-assignment" / "exercises", ignore=NO_PYCACHE)
        (sub / "dl-basics-assignment" / "README.md").write_text("# my work\n")
        os.mkfifo(sub / "dl-basics-assignment" / "exercises" / "helpers.py")
        forged = sub.joinpath("b\n0\t", *(sub.parent / "source" / "kit" / "solutions").parts[1:])
        forged.mkdir(parents=True)
        (forged / "mlp.py").write_text("def relu(X):\n    return X\n")

    results, proc = run_autograder(simulate(tmp_path, autograder, place), tmp_path / "home")
    check_shape(results)
    assert results["score"] <= 10
    assert "grading submission/dl-basics-assignment/exercises\n" in proc.stdout
    assert "  b\\n0\\t has a control character in its name: skipped\n" in proc.stdout
    assert "source/kit/solutions" not in proc.stdout + proc.stderr
    assert results["output"].startswith("**Some of your files were not graded:**\n\n"
                                        "- helpers\\.py is not a regular file \\(a FIFO\\)\\: skipped\n")
    for function in rubric.STUDENT_FUNCTIONS:
        outputs = [t["output"] for t in results["tests"] if t["name"].startswith(f"{function}.")]
        assert any("not implemented yet" in o for o in outputs), function
    assert "Fix first" in results["output"]


@pytest.mark.end_to_end
def test_exercises_folder_wins_over_loose_files(autograder, tmp_path):
    """The solutions in submission/exercises/, beside a broken file at the top level, and no metadata."""
    def place(sub: Path) -> None:
        shutil.copytree(KIT / "solutions", sub / "exercises", ignore=NO_PYCACHE)
        (sub / "mlp.py").write_text("def relu(X):\n    return X +\n")  # a syntax error, if it were graded

    results, proc = run_autograder(simulate(tmp_path, autograder, place, metadata=None), tmp_path / "home")
    check_shape(results)
    assert results["score"] == 100, [t for t in results["tests"] if t["status"] == "failed"]
    assert "grading submission/exercises\n" in proc.stdout


@pytest.mark.end_to_end
@pytest.mark.smoke
def test_a_link_to_the_solutions_is_not_followed(autograder, tmp_path):
    """An upload holding only ``exercises -> /autograder/source/kit/solutions``: the link is not followed, so
    nothing is graded: 0 points, and the student reads that no exercise files were found."""
    def place(sub: Path) -> None:
        (sub / "exercises").symlink_to(sub.parent / "source" / "kit" / "solutions", target_is_directory=True)

    results, proc = run_autograder(simulate(tmp_path, autograder, place), tmp_path / "home")
    check_shape(results)
    assert results["score"] == 0 and all(t["status"] == "failed" for t in results["tests"])
    assert results["output"].startswith("**No exercise files were found in your submission**, so nothing could "
                                        "be graded.")
    assert "- exercises is a symbolic link\\: not followed\n" in results["output"]
    relu = next(t for t in results["tests"] if t["name"].startswith("relu."))
    assert "mlp.py is missing from the submission" in relu["output"]
    assert "grading nothing\n" in proc.stdout and "source/kit/solutions" not in proc.stdout + proc.stderr


@pytest.mark.end_to_end
def test_grader_failure_gives_a_clear_result(autograder, tmp_path):
    """A secret the grader refuses (too short): ``grade`` exits 2 before any student code runs, and the
    student reads that the grader failed, not their code; staff see the grader's own words in the log."""
    def place(sub: Path) -> None:
        shutil.copytree(KIT / "solutions", sub, dirs_exist_ok=True, ignore=NO_PYCACHE)

    root = simulate(tmp_path, autograder, place)
    (root / "source" / "secret").write_text("short\n")
    results, proc = run_autograder(root, tmp_path / "home")
    assert results["score"] == 0 and results["tests"] == [] and results["output_format"] == "text"
    assert "could not run (exit status 2)" in results["output"] and "not with your code" in results["output"]
    assert "grade: " in proc.stderr


@pytest.mark.end_to_end
def test_the_course_file_travels_with_the_autograder(tmp_path):
    """`grade gradescope` in a folder holding grading.toml copies it; run_autograder grades with it."""
    (tmp_path / "grading.toml").write_text('[checks."relu.values"]\npoints = 5\n')
    proc = subprocess.run([sys.executable, "-m", "grader", "gradescope", str(tmp_path / "written")], cwd=tmp_path,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "written" / "grading.toml").read_text() == '[checks."relu.values"]\npoints = 5\n'
    root = simulate(tmp_path, tmp_path / "written", lambda sub: shutil.copytree(
        KIT / "solutions", sub, dirs_exist_ok=True, ignore=NO_PYCACHE))
    results, _ = run_autograder(root, tmp_path / "home")
    relu = next(t for t in results["tests"] if t["name"].startswith("relu.values"))
    assert relu["max_score"] == relu["score"] == 5
    assert results["score"] == 102 and results["extra_data"]["environment"]["course"]["file"] == "grading.toml"

"""exercises/ are generated from solutions/: in sync, no solution code left, stubs that raise with a hint."""

from __future__ import annotations

import ast

import pytest

from grader.authoring import build


def test_committed_exercises_match_the_build(kit):
    problems = build.drift(build.build_exercises(kit / "solutions"), kit / "exercises")
    assert problems == [], "run `python -m grader.authoring.build` to regenerate exercises/"


def test_committed_released_statements_match_the_build(kit):
    """The code policy's baseline (grader/engine/released_statements.json) is the one the exercises give."""
    assert build.baseline_drift(build.build_exercises(kit / "solutions")) == [], \
        "run `python -m grader.authoring.build` to regenerate the released statements"


def test_a_stale_baseline_is_reported(tmp_path, kit):
    files = build.build_exercises(kit / "solutions")
    baseline = build.write_baseline(files, tmp_path / "released_statements.json")
    assert build.baseline_drift(files, baseline) == []
    files["mlp.py"] += "\nEXTRA = 1\n"
    assert build.baseline_drift(files, baseline) == ["released_statements.json is out of date"]
    assert build.baseline_drift(files, tmp_path / "missing.json") == ["missing.json is out of date"]


def test_build_is_deterministic(kit):
    assert build.build_exercises(kit / "solutions") == build.build_exercises(kit / "solutions")


def test_exercises_hold_no_solution_and_compile(kit):
    files = build.build_exercises(kit / "solutions")
    stubs = 0
    for rel, text in files.items():
        ast.parse(text, rel)
        assert build.BEGIN not in text and build.END not in text and build.HINT not in text
        stubs += text.count("raise NotImplementedError(")
    assert stubs == 6


def test_clear_solutions_keeps_indentation_and_hint():
    src = ("def f(x):\n    \"\"\"doc\"\"\"\n    ### HINT: add one\n    ### BEGIN SOLUTION\n    return x + 1\n"
           "    ### END SOLUTION\n")
    out = build.clear_solutions(src)
    assert out == "def f(x):\n    \"\"\"doc\"\"\"\n    # YOUR CODE HERE\n    raise NotImplementedError('add one')\n"


@pytest.mark.parametrize("src,error", [
    ("    ### BEGIN SOLUTION\n    x = 1\n", "without ### END"),
    ("    x = 1\n    ### END SOLUTION\n", "without ### BEGIN"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "nested"),
    ("### HINT: h\nx = 1\n", "right above"),
])
def test_marker_errors_are_reported(src, error):
    with pytest.raises(build.MarkerError, match=error):
        build.clear_solutions(src)


def test_build_check_command_reports_drift(tmp_path, kit, capsys):
    from .conftest import run
    exercises = tmp_path / "exercises"
    build.write(build.build_exercises(kit / "solutions"), exercises)
    assert run("-m", "grader.authoring.build", "--check", "--exercises", str(exercises)).returncode == 0
    (exercises / "mlp.py").write_text((exercises / "mlp.py").read_text() + "\n# edited by hand\n")
    proc = run("-m", "grader.authoring.build", "--check", "--exercises", str(exercises))
    assert proc.returncode == 1 and "mlp.py differs" in proc.stderr
    stale = tmp_path / "released_statements.json"
    stale.write_text("{}\n")
    assert build.main(["--check", "--baseline", str(stale)]) == 1
    assert "released_statements.json is out of date" in capsys.readouterr().err

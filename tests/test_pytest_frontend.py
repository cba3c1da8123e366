"""`pytest exercises/`, the students' entry point, run for real in a subprocess."""

from __future__ import annotations

import re

from grader import rubric

from .conftest import run


def test_fresh_stubs_fail_every_check_with_a_hint(kit):
    proc = run("-m", "pytest", "exercises/", "-q", "-p", "no:randomly")
    out = proc.stdout
    assert proc.returncode == 1, out[-2000:]
    n = len(rubric.checks_for(visible_only=True))
    assert f"{n} failed" in out and "error" not in out.splitlines()[-1]
    assert "Score: 0/100" in out
    for check in rubric.checks_for(visible_only=True):
        assert re.search(rf"^{re.escape(check.id)} \(0/\S+ points\): .*not implemented yet", out, re.M), check.id


def test_exercise_tests_against_solutions_give_full_marks(kit):
    proc = run("-m", "pytest", "exercises/", "--submission", "solutions/", "-q")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "Score: 100/100" in proc.stdout
    assert re.search(r"ok softmax\s+17/17", proc.stdout)


def test_one_function_selected(kit):
    proc = run("-m", "pytest", "exercises/", "--submission", "solutions/", "-q", "-k", "relu")
    assert proc.returncode == 0
    assert "Score: 7/7" in proc.stdout


def test_report_dir_draws_the_selected_trainings(kit, tmp_path):
    out = tmp_path / "figures"
    proc = run("-m", "pytest", "exercises/", "--submission", "solutions/", "-q", "-k", "mlp", "--report-dir", str(out))
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "Score: 6/6" in proc.stdout and f"figures and report: {out / 'report.md'}" in proc.stdout
    assert sorted(p.name for p in out.iterdir()) == ["report.md", "train.mlp.png"]
    assert "![train.mlp](train.mlp.png)" in (out / "report.md").read_text()
    assert (out / "train.mlp.png").stat().st_size > 20_000

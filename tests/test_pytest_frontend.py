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
    hidden = f"{rubric.HIDDEN_MAX_SCORE:g}"
    assert f"hidden checks: not run here ({hidden} more points when your instructor grades)" in proc.stdout


def test_one_function_selected(kit):
    proc = run("-m", "pytest", "exercises/", "--submission", "solutions/", "-q", "-k", "relu")
    assert proc.returncode == 0
    assert "Score: 7/7" in proc.stdout


def test_only_selects_a_function_and_the_training_that_uses_it(kit):
    """``--only cross_entropy``: its checks and the softmax regression training, not softmax's (``-k softmax``
    would also pick that training)."""
    proc = run("-m", "pytest", "exercises/", "--submission", "solutions/", "-q", "--only", "cross_entropy")
    assert proc.returncode == 0, proc.stdout[-2000:]
    wanted = [c for c in rubric.CHECKS if c.probe in ("cross_entropy", "softmax_regression")]
    assert f"{len(wanted)} passed" in proc.stdout and "deselected" in proc.stdout
    assert f"Score: {sum(c.points for c in wanted):g}/{sum(c.points for c in wanted):g}" in proc.stdout
    proc = run("-m", "pytest", "exercises/", "-q", "--only", "cross_entropy,nope")
    assert proc.returncode != 0 and "unknown functions ['nope']" in proc.stderr


def test_report_dir_draws_the_selected_trainings(kit, tmp_path):
    out = tmp_path / "figures"
    proc = run("-m", "pytest", "exercises/", "--submission", "solutions/", "-q", "-k", "mlp", "--report-dir", str(out))
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "Score: 6/6" in proc.stdout and f"figures and report: {out / 'report.md'}" in proc.stdout
    assert sorted(p.name for p in out.iterdir()) == ["report.md", "train.mlp.png"]
    assert "![train.mlp](train.mlp.png)" in (out / "report.md").read_text()
    assert (out / "train.mlp.png").stat().st_size > 20_000

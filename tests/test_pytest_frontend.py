"""`pytest exercises/`, the students' entry point, run for real in a subprocess."""

from __future__ import annotations

import re
import tomllib

import pytest

from grader import rubric

from . import submissions
from .conftest import run

pytestmark = pytest.mark.end_to_end  # every test here runs the kit's commands in real subprocesses


def test_fresh_stubs_fail_every_check_with_a_hint(kit):
    proc = run("-m", "pytest", "exercises/", "-q", "-p", "no:randomly")
    out = proc.stdout
    assert proc.returncode == 1, out[-2000:]
    n = len(rubric.checks_for(visible_only=True))
    assert f"{n} failed" in out and "error" not in out.splitlines()[-1]
    assert "Score: 0/100" in out
    earlier = {}  # a check whose message an earlier check of its function gave refers to that check instead
    for check in rubric.checks_for(visible_only=True):
        own = "|".join(re.escape(c) for c in earlier.get(check.target, [])) or "(?!)"
        said = rf"(.*not implemented yet|the same as ({own})$)"
        assert re.search(rf"^{re.escape(check.id)} \(0/\S+ points\): {said}", out, re.M), check.id
        earlier.setdefault(check.target, []).append(check.id)


def test_exercise_tests_against_solutions_give_full_marks(kit):
    proc = run("-m", "pytest", "exercises/", "--dl-submission", "solutions/", "-q")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert re.search(r"ok softmax\s+17/17", proc.stdout)
    hidden, whole = f"{rubric.HIDDEN_MAX_SCORE:g}", f"{rubric.MAX_SCORE + rubric.HIDDEN_MAX_SCORE:g}"
    assert (f"Score: 100/100 here; your instructor's grade adds hidden checks worth {hidden}, out of {whole}"
            in proc.stdout.splitlines())


@pytest.mark.smoke
def test_one_function_selected(kit):
    proc = run("-m", "pytest", "exercises/", "--dl-submission", "solutions/", "-q", "-k", "relu")
    assert proc.returncode == 0
    assert "Score: 7/7" in proc.stdout


def test_only_selects_a_function_and_the_training_that_uses_it(kit):
    """``--dl-only cross_entropy``: its checks and the softmax regression training, not softmax's (``-k softmax``
    would also pick that training)."""
    proc = run("-m", "pytest", "exercises/", "--dl-submission", "solutions/", "-q", "--dl-only", "cross_entropy")
    assert proc.returncode == 0, proc.stdout[-2000:]
    wanted = [c for c in rubric.CHECKS if c.probe in ("cross_entropy", "softmax_regression")]
    assert f"{len(wanted)} passed" in proc.stdout and "deselected" in proc.stdout
    assert f"Score: {sum(c.points for c in wanted):g}/{sum(c.points for c in wanted):g}" in proc.stdout
    proc = run("-m", "pytest", "exercises/", "-q", "--dl-only", "cross_entropy,nope")
    assert proc.returncode != 0 and "unknown functions ['nope']" in proc.stderr


def test_report_dir_draws_the_selected_trainings(kit, tmp_path):
    out = tmp_path / "figures"
    proc = run("-m", "pytest", "exercises/", "--dl-submission", "solutions/", "-q", "-k", "mlp",
               "--dl-report-dir", str(out))
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "Score: 6/6" in proc.stdout and f"figures and report: {out / 'report.md'}" in proc.stdout
    assert sorted(p.name for p in out.iterdir()) == ["report.md", "train.mlp.png"]
    assert "![train.mlp](train.mlp.png)" in (out / "report.md").read_text()
    assert (out / "train.mlp.png").stat().st_size > 20_000


def test_the_plugin_is_opt_in_and_its_options_prefixed(kit, tmp_path):
    """Installing the kit adds nothing to other pytest runs: no entry point, the plugin is loaded by
    ``exercises/conftest.py``; its options are ``grade``'s, prefixed ``--dl-``."""
    assert "entry-points" not in tomllib.loads((kit / "pyproject.toml").read_text())["project"]
    assert 'pytest_plugins = ["grader.pytest_plugin"]' in (kit / "exercises" / "conftest.py").read_text()
    text = run("-m", "pytest", "exercises/", "--help").stdout
    for name in ("submission", "reference", "dataset", "data-dir", "time-limit", "only", "require-isolation",
                 "report-dir"):
        assert f"--dl-{name}" in text, name
    assert not re.search(r"^\s+--(submission|reference|dataset|data-dir|time-limit|only|report-dir)\b", text, re.M)
    for cwd in (tmp_path, kit):  # a folder without the conftest; the kit's own suite (tests/)
        proc = run("-m", "pytest", "--help", cwd=cwd)
        assert proc.returncode == 0 and "--dl-" not in proc.stdout and "deep-learning basics" not in proc.stdout


def test_loading_the_plugin_imports_no_jax():
    proc = run("-c", "import sys, grader.pytest_plugin; print(sorted(m for m in ('jax', 'numpy') if m in sys.modules))")
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stderr


def test_dataset_option_and_the_graders_own_errors_stop_the_run(kit, tmp_path):
    """``--dl-dataset fashion-mnist`` with a data folder that lacks its files, or a reference that raises: the run
    stops with the reason (status 4, pytest's usage error), and no student test fails for it."""
    empty = tmp_path / "data"
    empty.mkdir()
    proc = run("-m", "pytest", "exercises/", "-q", "-k", "relu", "--dl-submission", "solutions/",
               "--dl-dataset", "fashion-mnist", "--dl-data-dir", str(empty))
    assert proc.returncode == 4, proc.stdout[-3000:]
    assert "grading cannot run:" in proc.stdout and str(empty) in proc.stdout and "failed" not in proc.stdout
    raising = submissions.make(tmp_path / "reference", bodies={"relu": "raise ValueError('the reference has a bug')"})
    proc = run("-m", "pytest", "exercises/", "-q", "-k", "relu", "--dl-submission", "solutions/",
               "--dl-reference", str(raising))
    assert proc.returncode == 4, proc.stdout[-3000:]
    assert "grading cannot run: the reference (" in proc.stdout and "failed on the probe relu" in proc.stdout
    proc = run("-m", "pytest", "exercises/", "-q", "-k", "relu", "--dl-submission", "solutions/",
               "--dl-reference", "library", "--dl-dataset", "digits", "--dl-time-limit", "30")
    assert proc.returncode == 0 and "Score: 7/7" in proc.stdout, proc.stdout[-3000:]

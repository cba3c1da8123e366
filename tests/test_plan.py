"""One grading plan for every front end: built once from the options, carried to the workers as JSON (never the
secret), and read by ``grade``, ``pytest exercises/`` and ``grade batch`` alike, whose results then say the same
things beside the points."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from grader import rubric
from grader.engine import secret
from grader.engine.plan import GradingPlan
from grader.options import GradeOptions

from .conftest import KIT, run

SECRET = secret.Secret(b"a test secret of the kit's own suite")


def test_a_students_plan_has_their_seeds_and_its_json_has_no_secret():
    plan = GradingPlan(probes=rubric.probes_for_functions(["relu"]), secret=SECRET)
    assert plan.seeds == {} and plan.not_run() == ("relu.hidden",)  # a class's plan: no student, no seeds
    ada = plan.for_student("ada", accept_code=True)
    assert set(ada.seeds) == {"hidden.relu"} and ada.not_run() == () and ada.limits.accept_code
    assert ada.all_probes() == [*plan.probes, "hidden.relu"]
    assert plan.for_student("grace").seeds != ada.seeds
    text = ada.to_json()
    assert SECRET.fingerprint() not in text and "secret" not in json.loads(text)
    again = GradingPlan.from_json(text)
    assert again == ada and again.secret is None and again.seeds == ada.seeds  # the worker probes with the seeds


def test_the_options_make_the_plan():
    opts = GradeOptions(time_limit=30.0, report_dir="figures")
    plan = opts.plan(KIT / "solutions", hidden=False, lanes=2)
    assert plan.probes == tuple(opts.probes()) and set(rubric.FIGURE_PROBES) <= set(plan.probes)
    assert opts.plan(KIT / "solutions", probes=["relu"], hidden=False).probes == ("relu",)  # the selected tests'
    assert plan.limits.probe_seconds == 30.0 and plan.limits.lanes == 2 and plan.secret is None


DUMP_PLUGIN = """
import os
from grader import pytest_plugin

def pytest_sessionfinish(session):
    for graded in session.config.stash.get(pytest_plugin._SESSIONS, {}).values():
        if graded.results:
            with open(os.environ["DUMP_RESULT"], "w") as out:
                out.write(graded.result().to_json())
"""


def test_grade_pytest_and_batch_report_the_same_fields(tmp_path):
    """The same submission (the kit's solutions, ``--only relu``) through ``grade --format json``, ``pytest
    exercises/`` and ``grade batch``: each result carries the same fields (isolation, environment, the hidden
    checks not run, review notes when there are any), not only the points."""
    single = tmp_path / "grade.json"
    proc = run("-m", "grader", "solutions", "--only", "relu", "--format", "json", "--output", str(single), "--quiet")
    assert proc.returncode == 0, proc.stderr[-2000:]

    (tmp_path / "dump_result.py").write_text(DUMP_PLUGIN)
    dumped = tmp_path / "pytest.json"
    env = dict(os.environ, DUMP_RESULT=str(dumped),
               PYTHONPATH=os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, "-m", "pytest", "exercises/", "--dl-submission", "solutions/", "-q",
                           "--dl-only", "relu", "-p", "dump_result", "-p", "no:cacheprovider"], cwd=KIT, env=env,
                          capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout[-2000:]

    classroom = tmp_path / "class"
    shutil.copytree(KIT / "solutions", classroom / "ada", ignore=shutil.ignore_patterns("__pycache__"))
    proc = run("-m", "grader", "batch", str(classroom), "--only", "relu", "--quiet", "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr[-2000:]

    reports = {name: json.loads(path.read_text()) for name, path in
               (("grade", single), ("pytest", dumped), ("batch", tmp_path / "out" / "ada.json"))}
    fields = {name: set(r) for name, r in reports.items()}
    assert fields["grade"] >= {"score", "checks", "isolation", "environment", "not_run"}, fields
    assert fields["pytest"] == fields["grade"] == fields["batch"], fields
    for key in ("isolation", "environment"):
        assert len({json.dumps(sorted(r[key])) for r in reports.values()}) == 1, key
    assert reports["grade"]["not_run"] == reports["pytest"]["not_run"] == reports["batch"]["not_run"] == ["relu.hidden"]
    assert all(c["passed"] for r in reports.values() for c in r["checks"])

"""Marks only the student's own code can earn: the engine hijacks of :mod:`tests.attacks.hijacks`, each in the stubs'
``mlp.py``, graded through the real ``grade batch --jobs 2 --secret-file`` on a throwaway copy of the kit — once
as submitted (the policy for submitted code refuses each before it runs, naming the line and the construct) and
once accepted by the instructor (``--accept-code``: the guard in the child refuses each at run time). Either way
relu's own checks, its training and its hidden check keep the stub's points, none, and an honest classmate keeps
every point. One hijack also goes through a single ``grade --secret-file``.
"""

from __future__ import annotations

import csv
import json
import re

import pytest

from tests import caches
from tests.attacks import harness
from tests.attacks.hijacks import HIJACKS

pytestmark = pytest.mark.end_to_end  # every test here runs the kit's commands in real subprocesses

RELU_CHECKS = ("relu.values", "relu.grad", "relu.jit", "train.mlp", "relu.hidden")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("authorship")
    kit = harness.copy_kit(root / "kit")
    secret = root / "secret"
    secret.write_text("5e" * 32)
    secret.chmod(0o600)
    klass = root / "class"
    klass.mkdir()
    harness.build_submission(klass / "honest", kit / "solutions")
    appended_at = {}
    for name, (code, _) in HIJACKS.items():
        folder = harness.build_submission(klass / name, kit / "exercises", append={"mlp": code})
        appended_at[name] = len((kit / "exercises" / "mlp.py").read_text().splitlines()) + 1
        (folder / "conftest.py").unlink(missing_ok=True)
    return {"root": root, "kit": kit, "secret": secret, "class": klass, "appended_at": appended_at}


def _batch(lab, out: str, *extra: str):
    dirs = harness.RunDirs(lab["root"] / f"run-{out}").create()
    caches.seed(dirs.cache)  # the suite's trusted caches: no second `grade warm`
    run = harness.run_grade(lab["kit"], dirs, ["batch", str(lab["class"]), "--jobs", "2", "--only", "relu",
                                               "--secret-file", str(lab["secret"]), "--out",
                                               str(lab["root"] / out), "--quiet", *extra], timeout=900)
    assert run.status == 0, run.brief()
    harness.assert_imported_copy(run, lab["kit"])
    assert not run.survivors, run.survivors
    with open(lab["root"] / out / "gradebook.csv", newline="") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    reports = {name: json.loads((lab["root"] / out / f"{name}.json").read_text()) for name in rows}
    return rows, reports


@pytest.fixture(scope="module")
def refused(lab):
    return _batch(lab, "grades-policy")


@pytest.fixture(scope="module")
def accepted(lab):
    return _batch(lab, "grades-accepted", "--accept-code")


def _relu_points(report) -> dict[str, float]:
    return {c["id"]: c["points"] for c in report["checks"] if c["id"] in RELU_CHECKS}


def test_the_honest_student_keeps_every_point(refused, accepted):
    for rows, reports in (refused, accepted):
        points = _relu_points(reports["honest"])
        assert set(points) == set(RELU_CHECKS)
        assert all(c["passed"] for c in reports["honest"]["checks"]), reports["honest"]["checks"]


@pytest.mark.parametrize("name", sorted(HIJACKS))
def test_the_policy_refuses_each_hijack_naming_line_and_construct(name, lab, refused):
    rows, reports = refused
    points = _relu_points(reports[name])
    assert set(points) == set(RELU_CHECKS) and not any(points.values()), points
    message = next(c["message"] for c in reports[name]["checks"] if c["id"] == "relu.values")
    assert "mlp.py was not run" in message and "--accept-code" in message, message
    line = int(re.search(r"mlp\.py, line (\d+)", message).group(1))
    assert line >= lab["appended_at"][name], f"the line named is not the hijack's: {message}"
    assert HIJACKS[name][1] in message, message


@pytest.mark.parametrize("name", sorted(HIJACKS))
def test_accepted_hijacks_still_earn_nothing(name, accepted):
    rows, reports = accepted
    points = _relu_points(reports[name])
    assert set(points) == set(RELU_CHECKS) and not any(points.values()), (
        points, [c["message"] for c in reports[name]["checks"]])
    assert float(rows[name]["total"]) == 0.0, rows[name]


def test_a_hijack_through_grade_with_a_secret(lab):
    dirs = harness.RunDirs(lab["root"] / "run-single").create()
    caches.seed(dirs.cache)
    run = harness.run_grade(lab["kit"], dirs, [str(lab["class"] / "sys_modules"), "--only", "relu", "--secret-file",
                                               str(lab["secret"]), "--format", "json", "--quiet"], timeout=600)
    assert run.status == 0, run.brief()
    report = run.json()
    points = _relu_points(report)
    assert set(points) == set(RELU_CHECKS) and not any(points.values()), points
    assert report["max_score"] > 0


def test_reports_name_the_refusal_without_the_secret(lab, refused, accepted):
    secret = lab["secret"].read_text()
    for out in ("grades-policy", "grades-accepted"):
        for path in (lab["root"] / out).iterdir():
            if path.suffix in (".json", ".md", ".csv"):
                assert secret not in path.read_text(errors="replace"), path


def test_an_error_inside_a_jax_call_is_the_students_not_a_refusal(tmp_path):
    """The guard refuses the submission's own reach for frames and kit files, not JAX filtering the traceback of an
    error raised in a JAX call from student code, nor the standard library reading source lines for it: the
    student sees their broadcasting error, through the real `grade`."""
    from . import submissions
    from .conftest import run

    folder = submissions.make(tmp_path / "sub", bodies={"softmax": "e = jnp.exp(X - jnp.max(X, axis=-1, keepdims=True))"
                                                                   "\nreturn e / jnp.sum(e, axis=-1)"})
    proc = run("-m", "grader", str(folder), "--only", "softmax", "--format", "json", "--quiet")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    messages = [c["message"] for c in report["checks"] if c["id"] != "softmax.stability.large_logits"]
    assert messages and not any("Refused" in m or "reaches for" in m for m in messages), messages
    assert all("Incompatible shapes for broadcasting" in m for m in messages), messages
    assert not report.get("review"), report.get("review")

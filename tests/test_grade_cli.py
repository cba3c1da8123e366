"""The real `grade` command in a subprocess: reference, stubs, broken and hostile submissions, formats."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import re
import xml.etree.ElementTree as ET

import pytest

from grader import rubric

from . import submissions
from .conftest import grades_of, run

pytestmark = pytest.mark.end_to_end  # every test here runs the kit's commands in real subprocesses


def grade(*args: str, timeout: float = 600):
    return run("-m", "grader", *args, "--quiet", timeout=timeout)


def grade_json(path, *args: str) -> dict:
    proc = grade(str(path), "--format", "json", *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def points(report: dict) -> dict[str, float]:
    return {c["id"]: c["points"] for c in report["checks"]}


def failed(report: dict) -> set[str]:
    return {c["id"] for c in report["checks"] if not c["passed"]}


def message(report: dict, check_id: str) -> str:
    return next(c["message"] for c in report["checks"] if c["id"] == check_id)


def checks_of(*targets: str) -> set[str]:
    return {c.id for c in rubric.CHECKS if c.target in targets}


@pytest.mark.smoke
def test_reference_full_marks_and_json_contract(kit):
    report = grade_json(kit / "solutions")
    assert report["score"] == report["max_score"] == 100.0
    # the contract's keys, plus the sandbox's layers and what graded it (no "review" notes: the solutions reach
    # for nothing)
    assert set(report) == {"score", "max_score", "checks", "isolation", "environment", "not_run"}
    assert report["not_run"] == [c.id for c in rubric.HIDDEN_CHECKS]  # no secret: the hidden checks did not run
    assert set(report["isolation"]) == {"landlock_abi", "namespaces", "seccomp", "user", "summary", "time_limits"}
    env = report["environment"]
    assert env["kit"] == importlib.metadata.version("dl-basics-grader") and env["python"] == platform.python_version()
    assert env["packages"] == {p: importlib.metadata.version(p) for p in ("jax", "jaxlib", "flax", "optax", "numpy")}
    assert env["backend"] == "cpu" and env["x64"] is False
    assert env["dataset"] == {"name": "digits", "checksums": {},
                              "source": f"scikit-learn {importlib.metadata.version('scikit-learn')}"}
    assert [c["id"] for c in report["checks"]] == [c.id for c in rubric.CHECKS]
    for c in report["checks"]:
        assert set(c) == {"id", "target", "points", "max_points", "passed", "message"}
        assert c["passed"] and c["points"] == c["max_points"]


def test_stubs_score_zero_and_say_not_implemented(kit):
    report = grade_json(kit / "exercises")
    assert report["score"] == 0.0
    for c in report["checks"]:
        assert "not implemented yet" in c["message"], c


BROKEN = dict(
    bodies={
        "cross_entropy": "raise ValueError('labels must be one-hot')",
        "l2_penalty": "return 'w squared'",
    },
    append={},
)


@pytest.fixture(scope="module")
def broken_submission(tmp_path_factory):
    """A syntax error (mlp.py), a renamed function, an exception, and a string for an array."""
    path = submissions.make(tmp_path_factory.mktemp("broken") / "student", **BROKEN)
    mlp = path / "mlp.py"
    mlp.write_text(mlp.read_text().replace("return jnp.maximum(X, 0)", "return jnp.maximum(X, 0"))
    soft = path / "softmax_regression.py"
    soft.write_text(soft.read_text().replace("def softmax(X):", "def soft_max(X):"))
    return path


def test_broken_submission_gets_honest_points_and_messages(broken_submission):
    report = grade_json(broken_submission)
    expect_failed = checks_of("relu", "softmax", "cross_entropy", "l2_penalty") | {
        "train.mlp", "train.softmax_regression", "train.weight_decay"}
    assert failed(report) == expect_failed
    assert report["score"] == 100 - sum(rubric.BY_ID[i].points for i in expect_failed) == 35
    assert "mlp.py has a syntax error on line" in message(report, "relu.values")
    assert message(report, "softmax.values") == "softmax_regression.py has no function named softmax"
    assert "raised ValueError: labels must be one-hot" in message(report, "cross_entropy.values")
    assert "which is not an array of numbers" in message(report, "l2_penalty.values") or \
        "dtype" in message(report, "l2_penalty.values")


def test_same_report_every_run(broken_submission):
    first = grade(str(broken_submission), "--format", "json")
    second = grade(str(broken_submission), "--format", "json")
    assert first.stdout == second.stdout


def test_pytest_front_end_gives_the_same_points(broken_submission, kit):
    report = grade_json(broken_submission)
    proc = run("-m", "pytest", "exercises/", "--dl-submission", str(broken_submission), "-q", "-rA")
    passed_ids = set(re.findall(r"^PASSED exercises/test_exercises.py::test_check\[(.+?)\]", proc.stdout, re.M))
    failed_ids = set(re.findall(r"^FAILED exercises/test_exercises.py::test_check\[(.+?)\]", proc.stdout, re.M))
    assert failed_ids == failed(report)
    assert passed_ids == set(points(report)) - failed(report)
    assert f"Score: {report['score']:g}/100" in proc.stdout


HOSTILE_IMPORT = """
import os, subprocess, sys
print("Score: 100/100")
print('{"score": 100.0, "max_score": 100.0, "checks": []}')
sys.stderr.write("Traceback: everything is fine\\n")
import numpy
try:
    numpy.allclose = lambda *a, **k: True  # refused by the child's guard (a library patch)
except RuntimeError:
    pass
try:
    with open(OUTPUT_PATH, "w") as _f:  # outside the sandbox: denied where Landlock is in force
        _f.write("HACKED")
except OSError:
    pass
# a detached grandchild that would outlive the grader: new session, double fork
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(600)", MARKER])
    os._exit(0)
"""


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and marker in open(f"/proc/{entry}/cmdline").read():
                found.append(int(entry))
        except OSError:
            pass
    return found


@pytest.fixture
def hostile_submission(tmp_path):
    out, marker = tmp_path / "report.json", f"hostile-sleeper-{os.getpid()}-{tmp_path.name}"
    code = HOSTILE_IMPORT.replace("OUTPUT_PATH", repr(str(out))).replace("MARKER", repr(marker))
    path = submissions.make(
        tmp_path / "student",
        bodies={
            "softmax": "import os\nos._exit(0)",
            "cross_entropy": "return jnp.full(logits.shape[:1], jnp.nan)",
            "relu": ("import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                     "signal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"),
            "l2_penalty": "hog = bytearray(64 * 1024 ** 3)\nreturn jnp.sum(w ** 2) / 2",
        },
        append={"linear_regression": code})
    return path, out, marker


def test_hostile_submission_cannot_raise_its_score(hostile_submission):
    path, out, marker = hostile_submission
    # accepted by the instructor: the policy for submitted code would refuse it before it runs, and the sandbox must
    # hold for code that runs
    proc = grade(str(path), "--format", "json", "--output", str(out), "--time-limit", "10", "--accept-code")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout == ""
    report = json.loads(out.read_text())
    expect_failed = checks_of("softmax", "cross_entropy", "relu", "l2_penalty") | {
        "train.softmax_regression", "train.mlp", "train.weight_decay"}
    assert failed(report) == expect_failed
    assert report["score"] == 35.0  # data_iter, sgd and linear regression are correct
    assert "stopped: the grading process exited with status 0" in message(report, "softmax.values")
    assert "contains nan" in message(report, "cross_entropy.values")
    assert "did not finish within 10 s" in message(report, "relu.values")
    assert "MemoryError" in message(report, "l2_penalty.values")
    # the detached grandchild was ended with the rest of the child's processes
    assert _processes_with(marker) == []


def test_formats_and_fail_under(broken_submission, tmp_path):
    junit = tmp_path / "report.xml"
    proc = grade(str(broken_submission), "--format", "junit", "--output", str(junit), "--fail-under", "50")
    assert proc.returncode == 1  # 35 < 50
    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites" and int(root.get("tests")) == len(rubric.CHECKS)
    assert int(root.get("failures")) == 23
    cases = root.findall(".//testcase")
    assert {c.get("name") for c in cases if c.find("failure") is not None} >= {"relu.values", "softmax.values"}


def test_missing_path_is_a_grader_error(tmp_path):
    proc = grade(str(tmp_path / "nowhere"))
    assert proc.returncode == 2 and "is not a directory" in proc.stderr


def test_batch_grades_a_class(kit, tmp_path, broken_submission):
    import csv
    import shutil
    classroom = tmp_path / "class"
    classroom.mkdir()
    shutil.copytree(kit / "solutions", classroom / "alice", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(kit / "exercises", classroom / "bob", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(broken_submission, classroom / "carol")
    proc = run("-m", "grader", "batch", str(classroom), "--jobs", "2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "3/3" in proc.stderr
    rows = list(csv.DictReader(open(grades_of(classroom) / "gradebook.csv")))
    assert [(r["student"], float(r["total"])) for r in rows] == [("alice", 100.0), ("bob", 0.0), ("carol", 35.0)]
    assert rows[2]["relu"] == "0" and rows[2]["data_iter"] == "16"
    carol = json.loads((grades_of(classroom) / "carol.json").read_text())
    assert carol == grade_json(broken_submission)
    assert (grades_of(classroom) / "alice.md").read_text().startswith("## Grade: 100 / 100")
    summary = (grades_of(classroom) / "class_summary.md").read_text()
    assert "3 submissions" in summary and "## What to reteach" in summary and "| `relu` |" in summary
    assert (grades_of(classroom) / "class_summary.png").stat().st_size > 5000

"""Hidden checks end to end: the real `grade batch --secret-file` and `grade --secret-file --student-id` on a class
with a student who writes the public answers in and one who pries for the secret."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from grader import rubric
from grader.checks import data_iter as data_iter_checks
from grader.engine import secret

from . import caches
from .conftest import KIT, grades_of

pytestmark = pytest.mark.end_to_end  # every test here runs the kit's commands in real subprocesses

SECRET_TEXT = "e2e-" + "5ec4e7" * 8


def _hardcoded_data_iter_source() -> str:
    """A linear_regression.py whose data_iter has the public passes' batches written in as literal lists (what a
    student gets by printing the reference's batches), and yields the examples in order otherwise."""
    table = {}
    for _, n, b, key, _ in data_iter_checks.PASSES:
        table[(n, b, key)] = np.asarray(jax.random.permutation(jax.random.PRNGKey(key), n)).tolist()
    source = (KIT / "solutions" / "linear_regression.py").read_text()
    start = source.index("def data_iter(")
    end = source.index("\ndef ", start + 1)
    body = (f"ANSWERS = {table!r}\n\n\n"
            "def data_iter(batch_size, features, labels, key):\n"
            "    n = len(features)\n"
            "    seed = int(np.asarray(key)[-1])\n"
            "    order = ANSWERS.get((n, batch_size, seed), list(range(n)))\n"
            "    for i in range(0, n, batch_size):\n"
            "        idx = np.array(order[i:i + batch_size])\n"
            "        yield features[idx], labels[idx]\n\n")
    return "import numpy as np\n" + source[:start] + body + source[end:]


def _prying_relu_source(secret_path: Path) -> str:
    """An mlp.py whose relu tries to read the secret (its file and the environment) and to report it in its
    error message, the one channel back to the student."""
    source = (KIT / "solutions" / "mlp.py").read_text()
    start = source.index("def relu(")
    end = source.index("\ndef ", start + 1)
    body = ("def relu(X):\n"
            "    import os\n"
            "    found = os.environ.get('DL_BASICS_SECRET', 'no variable')\n"
            "    try:\n"
            f"        found += ' ' + open({str(secret_path)!r}).read()\n"
            "    except OSError as exc:\n"
            "        found += ' ' + type(exc).__name__\n"
            "    raise RuntimeError('secret: ' + found)\n\n")
    return source[:start] + body + source[end:]


@pytest.fixture(scope="module")
def hidden_class(tmp_path_factory):
    """A class graded by the real `grade batch --secret-file --only data_iter,relu`: grace (the solutions, but
    data_iter's public answers written in) and mallory (a relu prying for the secret). The solutions' full marks
    with a secret: tests/test_gradescope.py."""
    root = tmp_path_factory.mktemp("hidden_class")
    secret_path = root / "instructor" / "secret"
    secret_path.parent.mkdir()
    secret_path.write_text(SECRET_TEXT + "\n")
    course = root / "class"
    for name in ("grace", "mallory"):
        shutil.copytree(KIT / "solutions", course / name, ignore=shutil.ignore_patterns("__pycache__"))
    (course / "grace" / "linear_regression.py").write_text(_hardcoded_data_iter_source())
    (course / "mallory" / "mlp.py").write_text(_prying_relu_source(secret_path))
    env = {**os.environ, "HOME": str(root / "home"), "XDG_CACHE_HOME": str(caches.seed(root / "cache")),
           "DL_BASICS_SECRET": SECRET_TEXT}
    proc = subprocess.run([sys.executable, "-m", "grader", "batch", str(course), "--secret-file", str(secret_path),
                           "--only", "data_iter,relu", "--jobs", "2", "--quiet",
                           "--accept-code", "mallory"], cwd=KIT, env=env,  # her prying runs: the walls must hold
                          capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root, course, secret_path, env


def _report(course: Path, name: str) -> dict:
    return json.loads((grades_of(course) / f"{name}.json").read_text())


def test_batch_with_secret_runs_hidden_checks_and_catches_hardcoded_answers(hidden_class):
    root, course, secret_path, _ = hidden_class
    grace = _report(course, "grace")
    graded = {c["target"] for c in grace["checks"]}  # --only data_iter,relu: their functions and trainings
    hidden = [c for c in rubric.HIDDEN_CHECKS if c.target in graded]
    assert {c.id for c in hidden} == {"data_iter.hidden", "relu.hidden"}  # not sgd's: it only trains with it
    assert [c["id"] for c in grace["checks"] if c.get("hidden")] == [c.id for c in hidden]
    assert grace["max_score"] == sum(c.points for c in rubric.CHECKS if c.target in graded) + \
        sum(c.points for c in hidden)
    failed = {c["id"]: c for c in grace["checks"] if not c["passed"]}
    assert list(failed) == ["data_iter.hidden"]  # every public check passes with the written-in answers
    assert failed["data_iter.hidden"]["hidden"] and failed["data_iter.hidden"]["points"] < 3
    assert "the code depends on the public inputs" in failed["data_iter.hidden"]["message"]
    assert grace["environment"]["secret"] == secret.Secret(SECRET_TEXT.encode()).fingerprint()
    with open(grades_of(course) / "gradebook.csv", newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["student"] == "grace")
    assert float(row["total"]) == round(grace["score"], 2) and float(row["max"]) == grace["max_score"]
    markdown = (grades_of(course) / "grace.md").read_text()
    assert "`data_iter.hidden` (hidden)" in markdown


def test_the_secret_reaches_no_child_and_no_report(hidden_class):
    root, course, secret_path, _ = hidden_class
    mallory = _report(course, "mallory")
    relu_values = next(c for c in mallory["checks"] if c["id"] == "relu.values")
    assert "secret: no variable PermissionError" in relu_values["message"]
    for path in (grades_of(course)).rglob("*"):
        if path.is_file() and path.suffix in (".json", ".md", ".csv"):
            assert SECRET_TEXT not in path.read_text(errors="replace"), path


def test_same_secret_and_id_give_the_same_report_through_grade(hidden_class):
    """`grade` on grace's folder with her id reproduces the batch's checks; without a secret, the hidden checks
    are reported as not run and count in neither the score nor the maximum."""
    root, course, secret_path, env = hidden_class
    env = {k: v for k, v in env.items() if k != "DL_BASICS_SECRET"}
    proc = subprocess.run([sys.executable, "-m", "grader", str(course / "grace"), "--secret-file", str(secret_path),
                           "--student-id", "grace", "--only", "data_iter", "--format", "json", "--quiet"], cwd=KIT,
                          env=env, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    again = [(c["id"], c["points"]) for c in json.loads(proc.stdout)["checks"]]
    assert {i for i, _ in again} >= {"data_iter.hidden", "train.linear_regression"}
    batch = dict((c["id"], c["points"]) for c in _report(course, "grace")["checks"])
    assert again == [(i, batch[i]) for i, _ in again]
    proc = subprocess.run([sys.executable, "-m", "grader", str(course / "grace"), "--only", "relu", "--quiet"],
                          cwd=KIT, env=env, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # relu's checks and the MLP's training (13 points); relu's hidden check (2) waits for the instructor
    assert proc.stdout.startswith("Score: 13/13 here; your instructor's grade adds hidden checks worth 2, out of 15\n")
    assert "Hidden checks not run here (worth 2, not in this score): relu.hidden." in proc.stdout
    assert "relu.hidden " not in proc.stdout.split("Hidden checks not run")[0]  # not listed as passed


def test_secret_inside_the_submission_is_refused(hidden_class):
    root, course, secret_path, env = hidden_class
    planted = course / "grace" / "secret.txt"
    planted.write_text(SECRET_TEXT)
    try:
        proc = subprocess.run([sys.executable, "-m", "grader", str(course / "grace"), "--secret-file", str(planted),
                               "--quiet"], cwd=KIT, env=env, capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL)
    finally:
        planted.unlink()
    assert proc.returncode == 2 and "which the graded code can read" in proc.stderr

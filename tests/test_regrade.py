"""`grade diff`: a course file changed mid-term, the class graded again, and exactly whom it moves."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from grader import rubric
from grader.reports.result import CheckResult, Result

from . import submissions
from .conftest import KIT, run

pytestmark = pytest.mark.end_to_end  # every test here runs the kit's commands in real subprocesses

# The course changed mid-term: the MLP's training is worth 3 points instead of 6, and its threshold is raised to 0.95
# (the reference reaches ~0.956, so grading goes on).
NEW_COURSE = '[checks."train.mlp"]\npoints = 3\nthreshold = 0.95\n'


def _batch(folder: Path, out: Path, *course: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "grader", "batch", str(folder), "--only", "relu", "--jobs", "2",
                           "--quiet", "--out", str(out), *course], cwd=KIT, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_a_changed_course_moves_exactly_the_students_it_changes(tmp_path):
    folder = tmp_path / "class"
    submissions.make(folder / "alice")                                      # full marks before
    submissions.make(folder / "bob", bodies={"relu": "return jnp.abs(X)"})  # fails the MLP either way
    (tmp_path / "grading.toml").write_text(NEW_COURSE)
    _batch(folder, tmp_path / "old")
    _batch(folder, tmp_path / "new", "--course", str(tmp_path / "grading.toml"))

    proc = run("-m", "grader", "diff", str(tmp_path / "old"), str(tmp_path / "new"))
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert text.startswith("# Regrade: 1 of 2 students change")
    assert "different course files: the kit's rubric before, `grading.toml` (sha256" in text
    assert "| alice | -3 |" in text
    row = next(line for line in text.splitlines() if line.startswith("| alice | `train.mlp` |"))
    # the messages are Markdown-escaped text (grader.reports.inert.markdown)
    assert "| 6 | 3 | -3 |" in row and "threshold 0\\.92" in row and "threshold 0\\.95\\, set in grading\\.toml" in row
    assert "| bob |" not in text  # his MLP failed before and fails now: the same points, the same verdict

    proc = run("-m", "grader", "diff", str(tmp_path / "old"), str(tmp_path / "new"), "--format", "csv")
    rows = list(csv.reader(io.StringIO(proc.stdout)))
    assert rows[0] == ["student", "check", "old points", "new points", "change", "old message", "new message"]
    assert [r[:5] for r in rows[1:]] == [["alice", "train.mlp", "6", "3", "-3"]]
    assert "different course files" in proc.stderr

    # one student's two reports compare the same way
    proc = run("-m", "grader", "diff", str(tmp_path / "old" / "alice.json"), str(tmp_path / "new" / "alice.json"))
    assert "| student | `train.mlp` | 6 | 3 | -3 |" in proc.stdout


def test_unreadable_inputs_are_the_graders_error(tmp_path):
    (tmp_path / "bad.json").write_text("{}")
    good = tmp_path / "good.json"
    good.write_text(Result((CheckResult("relu.values", "relu", 3, 3, True, "ok"),)).to_json())
    for old, new in ((tmp_path / "missing", good), (tmp_path / "bad.json", good), (tmp_path, tmp_path / "empty")):
        proc = run("-m", "grader", "diff", str(old), str(new))
        assert proc.returncode == 2 and proc.stderr.startswith("grade diff: ") and "Traceback" not in proc.stderr


def test_students_on_one_side_only_are_listed(tmp_path):
    report = Result(tuple(CheckResult(c.id, c.target, c.points, c.points, True, "ok") for c in rubric.CHECKS))
    for side, names in (("old", ("ann", "ben")), ("new", ("ben", "cy"))):
        (tmp_path / side).mkdir()
        for name in names:
            (tmp_path / side / f"{name}.json").write_text(json.dumps(report.to_dict()))
    proc = run("-m", "grader", "diff", str(tmp_path / "old"), str(tmp_path / "new"))
    assert "No check moved." in proc.stdout
    assert "Only in the old grading: ann" in proc.stdout and "Only in the new grading: cy" in proc.stdout

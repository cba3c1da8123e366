"""`grade diff`: a rubric tightened mid-term, the class graded again, and exactly whom it moves."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

from grader import rubric
from grader.reports.result import CheckResult, Result

from . import submissions
from .conftest import KIT, run

OLD_RULE = '''"the MLP reaches the test-accuracy threshold of the dataset",
       threshold=0.92),'''
NEW_RULE = OLD_RULE.replace("0.92", "0.99")


def _kit_with_mlp_threshold(dest: Path) -> Path:
    """A throwaway copy of the kit whose rubric asks the MLP for 0.99 test accuracy (the reference reaches ~0.95)."""
    for part in ("grader", "solutions"):
        shutil.copytree(KIT / part, dest / part, ignore=shutil.ignore_patterns("__pycache__"))
    path = dest / "grader" / "rubric.py"
    text = path.read_text()
    assert OLD_RULE in text
    path.write_text(text.replace(OLD_RULE, NEW_RULE))
    return dest


def _batch(kit: Path, folder: Path, out: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "grader", "batch", str(folder), "--only", "relu", "--jobs", "2",
                           "--quiet", "--out", str(out)], cwd=kit, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_a_tightened_threshold_moves_exactly_the_students_it_fails(tmp_path):
    folder = tmp_path / "class"
    submissions.make(folder / "alice")                                      # full marks before
    submissions.make(folder / "bob", bodies={"relu": "return jnp.abs(X)"})  # fails the MLP either way
    _batch(KIT, folder, tmp_path / "old")
    _batch(_kit_with_mlp_threshold(tmp_path / "kit-new"), folder, tmp_path / "new")

    proc = run("-m", "grader", "diff", str(tmp_path / "old"), str(tmp_path / "new"))
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert text.startswith("# Regrade: 1 of 2 students change")
    assert "| alice | -6 |" in text
    row = next(line for line in text.splitlines() if line.startswith("| alice | `train.mlp` |"))
    # the messages are Markdown-escaped text (grader.reports.inert.markdown)
    assert "| 6 | 0 | -6 |" in row and "threshold 0\\.92" in row and "threshold 0\\.99" in row
    assert "| bob |" not in text  # his MLP failed before and fails now: the same points, the same verdict

    proc = run("-m", "grader", "diff", str(tmp_path / "old"), str(tmp_path / "new"), "--format", "csv")
    rows = list(csv.reader(io.StringIO(proc.stdout)))
    assert rows[0] == ["student", "check", "old points", "new points", "change", "old message", "new message"]
    assert [r[:5] for r in rows[1:]] == [["alice", "train.mlp", "6", "0", "-6"]]

    # one student's two reports compare the same way
    proc = run("-m", "grader", "diff", str(tmp_path / "old" / "alice.json"), str(tmp_path / "new" / "alice.json"))
    assert "| student | `train.mlp` | 6 | 0 | -6 |" in proc.stdout


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

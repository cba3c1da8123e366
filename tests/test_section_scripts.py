"""`python -m exercises.<section>` as a student runs it (a real interpreter): an unfinished function is named in one
line, with the earlier section to finish first; an endless data_iter stops the run with a message instead of
hanging."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from . import submissions
from .conftest import KIT

pytestmark = pytest.mark.end_to_end  # every test here runs the kit's commands in real subprocesses

ENDLESS = """\
n = len(features)
order = jax.random.permutation(key, n)
start = 0
while True:
    idx = order[start % n: start % n + batch_size]
    yield features[idx], labels[idx]
    start += batch_size
"""


def section(folder: Path, name: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m <folder's name>.<name>``, run from the folder's parent."""
    return subprocess.run([sys.executable, "-m", f"{folder.name}.{name}"], cwd=folder.parent, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def _line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_a_stub_of_the_section_is_named_in_one_line(tmp_path):
    exercises = tmp_path / "exercises"
    shutil.copytree(KIT / "exercises", exercises, ignore=shutil.ignore_patterns("__pycache__"))
    proc = section(exercises, "mlp")
    line = _line_of(exercises / "mlp.py", "raise NotImplementedError")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert proc.stderr.strip() == (f"relu (mlp.py, line {line}) is not written yet: fill it in, then run "
                                   "python -m exercises.mlp again.")


def test_a_stub_of_an_earlier_section_names_that_section(tmp_path):
    """relu written, data_iter not: the MLP's training stops at data_iter with the section to finish first."""
    sub = submissions.make(tmp_path / "mine", {"data_iter": "raise NotImplementedError('draw a permutation')"})
    proc = section(sub, "mlp")
    line = _line_of(sub / "linear_regression.py", "raise NotImplementedError('draw a permutation')")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "relu(" in proc.stdout  # the section's own part ran first
    assert proc.stderr.strip() == (f"this section uses data_iter (linear_regression.py, line {line}), which is not "
                                   "written yet: finish that section first (python -m mine.linear_regression), "
                                   "then run python -m mine.mlp again.")


def test_an_endless_data_iter_stops_the_training(tmp_path):
    sub = submissions.make(tmp_path / "mine", {"data_iter": ENDLESS})
    proc = section(sub, "linear_regression", timeout=240)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert proc.stderr.strip() == (
        "stopped: data_iter gave more than 100 minibatches for 1000 examples in batches of 10: one pass is 100, so "
        "this generator never ends. Let it stop after the last slice (a for loop over the start indices, not "
        "while True).")


@pytest.mark.smoke
def test_another_error_keeps_its_traceback(tmp_path):
    """Only a stub's NotImplementedError is shortened: the student's own errors are theirs to read in full."""
    sub = submissions.make(tmp_path / "mine", {"relu": "return X.no_such_method()"})
    proc = section(sub, "mlp")
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "no_such_method" in proc.stderr

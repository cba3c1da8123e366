"""``grade batch`` on a class folder as students hand it in, with the real CLI in a subprocess (``--only relu``, to
keep it short): a cloned repository is graded where its exercise files are, a link is no student, and odd or
over-long folder names neither crash the reports nor reach the gradebook as a formula."""

from __future__ import annotations

import csv
import json
import shutil

import pytest

from grader import batch
from grader.reports import inert

from .conftest import KIT, grades_of, run

NO_PYCACHE = shutil.ignore_patterns("__pycache__", "*.pyc", "test_*.py", "conftest.py")
LONG = "s" * 252            # <LONG>.json would be 257 characters: longer than a file name may be
FORMULA = '=2+5+HYPERLINK("x")'


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    classroom = tmp_path_factory.mktemp("class")
    shutil.copytree(KIT / "solutions", classroom / "alice" / "dl-basics-assignment" / "exercises", ignore=NO_PYCACHE)
    (classroom / "alice" / "dl-basics-assignment" / "README.md").write_text("# my work\n")
    (classroom / "mallory").symlink_to(classroom / "alice", target_is_directory=True)
    shutil.copytree(KIT / "solutions", classroom / LONG, ignore=NO_PYCACHE)
    shutil.copytree(KIT / "exercises", classroom / FORMULA, ignore=NO_PYCACHE)
    shutil.copytree(KIT / "solutions", classroom / "eve\n0\tx", ignore=NO_PYCACHE)
    proc = run("-m", "grader", "batch", str(classroom), "--only", "relu", "--jobs", "2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return classroom, proc


@pytest.mark.end_to_end
@pytest.mark.smoke
def test_who_is_graded_and_how(graded_class):
    classroom, proc = graded_class
    with open(grades_of(classroom) / "gradebook.csv", newline="") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    # the link and the name with a newline are not followed or used as paths: rows without points, saying why
    assert {"alice", LONG, "'" + FORMULA, "mallory"} <= set(rows) and len(rows) == 5
    eve = next(s for s in rows if s.startswith("eve"))
    assert float(rows["mallory"]["total"]) == 0 and float(rows[eve]["total"]) == 0
    assert "a symbolic link, not a student's folder" in (grades_of(classroom) / "mallory.json").read_text()
    assert not [c for r in rows.values() for c in r.values() if c.startswith(("=", "+", "-", "@", "\t", "\r"))]
    relu_points = float(rows["alice"]["relu"])
    assert relu_points > 0 and float(rows[LONG]["relu"]) == relu_points  # the repository's exercises/, graded
    assert float(rows["'" + FORMULA]["relu"]) == 0  # the stubs
    assert "grade batch: not graded mallory: a symbolic link, not a student's folder\n" in proc.stderr
    assert "grade batch: not graded eve\\n0\\tx: has a control character in its name\n" in proc.stderr


@pytest.mark.end_to_end
def test_reports_have_safe_file_names(graded_class):
    classroom, _ = graded_class
    out = grades_of(classroom)
    assert json.loads((out / "alice.json").read_text())["score"] > 0
    for student in (LONG, FORMULA):
        stem = batch.report_stem(student)
        assert len(stem) <= 111 and stem != student
        assert (out / f"{stem}.json").is_file() and (out / f"{stem}.md").is_file()
    assert sorted(p.name for p in out.iterdir() if p.suffix == ".json") == sorted(
        f"{batch.report_stem(s)}.json" for s in ("alice", LONG, FORMULA, "mallory", "eve\n0\tx"))


def test_report_stems_and_spreadsheet_cells():
    assert batch.report_stem("alice") == "alice" and batch.report_stem("a.b-c_1") == "a.b-c_1"
    assert batch.report_stem("a b") != batch.report_stem("a_b") == "a_b"
    assert batch.report_stem("class_summary").startswith("class_summary-")
    assert len(batch.report_stem("x" * 250)) == 111
    for cell in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert inert.csv_cell(cell) == "'" + cell
    assert inert.csv_cell("alice") == "alice" and inert.csv_cell("") == ""

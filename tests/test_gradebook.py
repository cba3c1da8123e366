"""The gradebook of ``grade batch`` as an instructor hands it in, through the real CLI in a subprocess (``--only
relu``, with a secret, to keep it short and have hidden points): the output folder is never graded, wherever it
is; it holds no stale report; ``--student`` regrades one student into it; the roster's ids and names, and the
Canvas and Moodle files in their documented import formats (see :mod:`grader.reports.gradebook`)."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys

import pytest

from grader.reports import gradebook

from .attacks.harness import build_submission
from .conftest import KIT, grades_of

pytestmark = pytest.mark.end_to_end  # every test here runs the kit's commands in real subprocesses

SECRET_TEXT = "book-" + "9a7e51" * 8
ASSIGNMENT = "DL basics (42)"
FORMULA = "=HYPERLINK(\"x\")"


def _batch(course, *args, env):
    return subprocess.run([sys.executable, "-m", "grader", "batch", str(course), "--only", "relu", "--jobs", "2",
                           "--quiet", *args], cwd=KIT, env=env, capture_output=True, text=True, timeout=600,
                          stdin=subprocess.DEVNULL)


def _table(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def _rows(folder):
    with open(folder / "gradebook.csv", newline="", encoding="utf-8") as f:
        return {r["student"]: r for r in csv.DictReader(f)}


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    """alice and carol hand in the solutions, bob the stubs, mallory is a link; the roster names alice, bob (a
    name a spreadsheet would run) and dave (no folder), not carol. Graded first into ``class/grades`` (inside the
    class), then with the default ``--out``; then bob hands in a fix and is regraded alone with ``--student``;
    then carol leaves and the class is graded again."""
    root = tmp_path_factory.mktemp("book")
    course = root / "class"
    for name in ("alice", "carol"):
        build_submission(course / name, KIT / "solutions")
    build_submission(course / "bob", KIT / "exercises")
    (course / "mallory").symlink_to(course / "alice", target_is_directory=True)
    secret = root / "instructor" / "secret"
    secret.parent.mkdir()
    secret.write_text(SECRET_TEXT + "\n")
    roster = root / "roster.csv"
    with open(roster, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["folder", "id", "name", "email", "section"],
                                 ["alice", "S001", "Liddell, Alice", "alice@example.org", "A1"],
                                 ["bob", "S002", FORMULA, "bob@example.org", "A1"],
                                 ["dave", "S004", "Davé Zoë", "dave@example.org", "B2"]])
    env = {k: v for k, v in os.environ.items() if k != "DL_BASICS_SECRET"}
    common = ("--secret-file", str(secret), "--roster", str(roster), "--assignment", ASSIGNMENT)
    runs = {}
    runs["inside"] = _batch(course, "--out", str(course / "grades"), *common, env=env)
    runs["default"] = _batch(course, *common, env=env)
    out = grades_of(course)
    snapshot = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir()}
    shutil.copy(KIT / "solutions" / "mlp.py", course / "bob" / "mlp.py")
    runs["regrade"] = _batch(course, "--student", "bob", "--secret-file", str(secret), env=env)
    after_regrade = {p.name: p.read_bytes() for p in out.iterdir()}
    (out / "my-notes.txt").write_text("the instructor's own file\n")
    shutil.rmtree(course / "carol")
    runs["carol left"] = _batch(course, *common, env=env)
    runs["against the first"] = _batch(course, "--out", str(root / "against-first"), "--previous",
                                       str(course / "grades"), *common, env=env)
    runs["foreign folder"] = _batch(course, "--out", str(root), *common, env=env)
    runs["regrade without gradebook"] = _batch(course, "--student", "bob", "--out", str(root / "new"), env=env)
    return {"root": root, "course": course, "out": out, "runs": runs, "snapshot": snapshot,
            "after_regrade": after_regrade}


def test_every_run_grades_the_class_and_never_a_gradebook(book):
    runs = book["runs"]
    for name in ("inside", "default", "regrade", "carol left"):
        assert runs[name].returncode == 0, (name, runs[name].stderr[-3000:])
    assert "grade batch: not graded grades: a folder grade batch wrote, not a student's" in runs["default"].stderr
    inside, default = _rows(book["course"] / "grades"), book["snapshot"]["gradebook.csv"][0]
    assert set(inside) == {"alice", "bob", "carol", "dave", "mallory"}  # no "grades" row
    assert (book["course"] / "grades" / "gradebook.csv").read_bytes() == default  # the same class, the same book
    assert "graded 4 submissions" in runs["default"].stdout  # the folders and the link: dave has no folder
    assert "not in the roster (in the gradebook, not in the LMS files): carol, mallory" in runs["default"].stderr


def test_columns_hidden_points_and_rounding(book):
    text = book["snapshot"]["gradebook.csv"][0].decode()
    header = text.splitlines()[0].split(",")
    assert header == ["student", "id", "name", "relu", "mlp", "public", "hidden", "total", "max", "note"]
    rows = _rows(book["course"] / "grades")
    for student, r in rows.items():
        assert float(r["public"]) + float(r["hidden"]) == pytest.approx(float(r["total"]), abs=1e-9), student
        assert float(r["max"]) == 15, student  # 13 public points of relu and mlp, 2 of relu.hidden: every row
        for column in header[3:9]:
            assert len(r[column].partition(".")[2]) <= gradebook.DECIMALS, (student, column, r[column])
    alice = rows["alice"]
    assert (alice["relu"], alice["mlp"], alice["public"], alice["hidden"], alice["total"]) == ("7", "6", "13", "2",
                                                                                                   "15")
    assert (alice["id"], alice["name"], alice["note"]) == ("S001", "Liddell, Alice", "")
    assert rows["bob"]["name"] == "'" + FORMULA and float(rows["bob"]["total"]) == 0
    assert (rows["dave"]["total"], rows["dave"]["note"]) == ("0", gradebook.NO_SUBMISSION)
    assert rows["carol"]["note"] == gradebook.NOT_IN_ROSTER and rows["carol"]["total"] == "15"
    assert float(rows["mallory"]["total"]) == 0
    assert not [c for r in rows.values() for c in r.values() if c.startswith(("=", "+", "-", "@", "\t", "\r"))]


def test_canvas_file_in_canvas_gradebook_import_format(book):
    raw = (book["course"] / "grades" / "canvas.csv").read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    table = _table(book["course"] / "grades" / "canvas.csv")
    assert table[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", ASSIGNMENT]
    assert table[1] == ["    Points Possible", "", "", "", "", "15"]
    assert table[2:] == [["Liddell, Alice", "", "S001", "", "A1", "15"],
                         ["'" + FORMULA, "", "S002", "", "A1", "0"],
                         ["Davé Zoë", "", "S004", "", "B2", "0"]]  # the roster's students only, UTF-8


def test_moodle_file_in_moodle_grade_import_format(book):
    table = _table(book["course"] / "grades" / "moodle.csv")
    assert table[0] == ["ID number", "Email address", ASSIGNMENT]
    assert table[1:] == [["S001", "alice@example.org", "15"], ["S002", "bob@example.org", "0"],
                         ["S004", "dave@example.org", "0"]]
    assert all(r[0] and float(r[2]) >= 0 for r in table[1:])  # an empty id or a non-number aborts Moodle's import


def test_student_regrade_replaces_one_row_and_keeps_the_others(book):
    before, after = book["snapshot"], book["after_regrade"]
    assert "graded 1 submissions (of 4 in the gradebook)" in book["runs"]["regrade"].stdout
    old_lines = before["gradebook.csv"][0].decode().splitlines()
    new_lines = after["gradebook.csv"].decode().splitlines()
    changed = [(o, n) for o, n in zip(old_lines, new_lines) if o != n]
    assert len(old_lines) == len(new_lines) and len(changed) == 1 and changed[0][1].startswith("bob,S002,")
    assert changed[0][1].split(",")[-3:] == ["15", "15", ""]  # total, max, note: bob's fix, graded with the secret
    for name in ("alice.json", "alice.md", "carol.json", "carol.md", "mallory.json", "mallory.md"):
        assert after[name] == before[name][0], name  # the others' reports are not rewritten
    assert after["bob.json"] != before["bob.json"][0]
    canvas = list(csv.reader(after["canvas.csv"].decode().splitlines()))
    assert canvas[3] == ["'" + FORMULA, "", "S002", "", "A1", "15"]
    assert after["class_summary.md"] != before["class_summary.md"][0]
    assert "4 submissions" in after["class_summary.md"].decode()


def test_previous_puts_the_regrades_moves_on_the_dashboard(book):
    """``--previous DIR``: the class summary's page lists who moved against an earlier grading (bob's fix, since the
    first run) and who is only in one of them (carol left)."""
    run = book["runs"]["against the first"]
    assert run.returncode == 0, run.stderr[-3000:]
    page = (book["root"] / "against-first" / "class_summary.html").read_text()
    regrade = page[page.index('<h2 id="regrade">'):]
    assert "1 of 3 students change against the earlier grading." in regrade
    assert "<td>bob (+" in regrade and "relu.values" in regrade
    assert "Only in the earlier grading:" in regrade and "carol" in regrade


def test_removed_students_reports_are_removed_and_nothing_else(book):
    out = book["out"]
    assert "removed from" in book["runs"]["carol left"].stderr
    assert not (out / "carol.json").exists() and not (out / "carol.md").exists()
    assert "carol" not in _rows(out)
    assert (out / "my-notes.txt").read_text() == "the instructor's own file\n"  # not the batch's: kept
    assert sorted(p.name for p in out.glob("*.json")) == ["alice.json", "bob.json", "mallory.json"]


def test_refusals_leave_no_trace(book):
    foreign = book["runs"]["foreign folder"]
    assert foreign.returncode == 2 and "holds files grade batch did not write" in foreign.stderr
    assert not (book["root"] / "gradebook.csv").exists()
    orphan = book["runs"]["regrade without gradebook"]
    assert orphan.returncode == 2 and "--student regrades into an existing gradebook" in orphan.stderr
    assert not (book["root"] / "new").exists()

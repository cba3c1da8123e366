"""The chapter as an nbgrader course, with the real nbgrader commands: same points as `grade`, check by check."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from grader import course, rubric

from . import submissions

ASSIGNMENT = course.ASSIGNMENT

# Two bugs, written the same way in the notebook and in the module folder graded by `grade`.
BUGS = {
    "softmax": "e = jnp.exp(X)\nreturn e / jnp.sum(e, axis=-1, keepdims=True)",
    "l2_penalty": "return jnp.sum(w ** 2)",
}


def nbgrader(course_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course_dir, env=env, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc


def with_bugs(notebook: Path, bugs: dict[str, str]) -> None:
    """Rewrite the solution cells of the named functions in a filled-in notebook."""
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        name = gid.removesuffix("-solution")
        if gid.endswith("-solution") and name in bugs:
            body = "\n".join("    " + line for line in bugs[name].splitlines())
            cell.source = re.sub(r"(### BEGIN SOLUTION\n).*?(\n\s*### END SOLUTION)",
                                 lambda m: m.group(1) + body + m.group(2), cell.source, flags=re.S)
    nbformat.write(nb, notebook)


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    course.build_course(root)
    nbgrader(root, "generate_assignment", ASSIGNMENT, "--force")
    for student, bugs in (("alice", {}), ("bob", BUGS)):
        target = root / "submitted" / student / ASSIGNMENT
        shutil.copytree(root / "source" / ASSIGNMENT, target)  # filled in: the solutions
        for name in bugs:
            with_bugs(target / f"{rubric.STUDENT_FUNCTIONS[name]}.ipynb", {name: bugs[name]})
    nbgrader(root, "autograde", ASSIGNMENT)
    return root


def gradebook_points(root: Path, student: str) -> dict[str, float]:
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        out = {}
        for check in rubric.CHECKS:
            notebook = check.target if check.target in course.SECTIONS else rubric.STUDENT_FUNCTIONS[check.target]
            grade = gb.find_grade(course.grade_id(check.id), notebook, ASSIGNMENT, student)
            out[check.id] = grade.score
        return out


def grade_points(path: Path) -> dict[str, float]:
    from .conftest import run
    proc = run("-m", "grader", str(path), "--format", "json", "--quiet")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {c["id"]: c["points"] for c in json.loads(proc.stdout)["checks"]}


def test_release_has_no_solution_code(graded_course, kit):
    release = graded_course / "release" / ASSIGNMENT
    text = "".join(p.read_text() for p in release.rglob("*.ipynb"))
    text += "".join(p.read_text() for p in release.rglob("*.py"))
    assert "### BEGIN SOLUTION" not in text
    for line in ("return jnp.maximum(X, 0)", "jnp.take_along_axis(shifted", "X_exp / jnp.sum(X_exp"):
        assert line in (kit / "solutions" / "mlp.py").read_text() + (kit / "solutions" / "softmax_regression.py").read_text()
        assert line not in text
    assert text.count("raise NotImplementedError()") == 6


def test_reference_scores_full_marks(graded_course):
    points = gradebook_points(graded_course, "alice")
    assert points == {c.id: c.points for c in rubric.CHECKS}


def test_points_match_grade_check_by_check(graded_course, tmp_path):
    folder = submissions.make(tmp_path / "bob", bodies=BUGS)
    expected = grade_points(folder)
    assert gradebook_points(graded_course, "bob") == expected
    assert sum(expected.values()) < 100 and expected["softmax.values"] == rubric.BY_ID["softmax.values"].points
    assert expected["softmax.stability.large_logits"] == 0 and expected["l2_penalty.values"] == 0


def test_feedback_and_export(graded_course):
    nbgrader(graded_course, "generate_feedback", ASSIGNMENT)
    feedback = list((graded_course / "feedback" / "bob" / ASSIGNMENT).glob("*.html"))
    assert len(feedback) == len(course.SECTIONS)
    html = (graded_course / "feedback" / "bob" / ASSIGNMENT / "softmax_regression.html").read_text()
    assert "subtract the row max before exp" in html
    nbgrader(graded_course, "export")
    rows = (graded_course / "grades.csv").read_text().splitlines()
    assert any(r.startswith(f"{ASSIGNMENT},") and ",alice," in r and ",100.0," in r for r in rows), rows[:3]


def test_course_build_is_deterministic(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    files_a = course.build_course(first)
    course.build_course(second)
    for path in files_a:
        assert path.read_bytes() == (second / path.relative_to(first)).read_bytes(), path

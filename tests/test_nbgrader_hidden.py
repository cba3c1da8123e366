"""Hidden checks in an nbgrader course: `python -m grader.authoring.course --hidden-checks`, the real `nbgrader
generate_assignment` (which strips the hidden cells from the release) and `nbgrader autograde` with the
instructor's secret in `c.SandboxGrades.secret_file`, scored by the sandbox as `grade --secret-file` scores."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import nbformat
import pytest

from grader import rubric
from grader.authoring import course
from grader.authoring.course import ASSIGNMENT

from .attacks.hijacks import HIJACKS
from .conftest import KIT
from .test_nbgrader import STUB, isolated_env, nbgrader, with_bugs

pytestmark = pytest.mark.end_to_end  # every test here runs the kit's commands in real subprocesses

SECRET_TEXT = "nbgrader-hidden-" + "7c" * 16
# Keeps float16 only for the public (4, 5) float16 array: right on every public input, wrong on other shapes.
PUBLIC_ONLY_RELU = ("out = jnp.maximum(X, 0)\n"
                    "return out if X.dtype != jnp.float16 or X.shape == (4, 5) else out.astype(jnp.float32)")
RELU_CHECKS = [c.id for c in rubric.CHECKS if c.target == "relu"]


@pytest.fixture(scope="module")
def hidden_course(tmp_path_factory):
    """The course with hidden checks, generated; ada (the solutions) and grace (PUBLIC_ONLY_RELU) hand in and
    their mlp notebooks are autograded with the secret."""
    root = tmp_path_factory.mktemp("hidden-course") / "course"
    course.build_course(root, hidden=True)
    secret_path = root.parent / "course-secret"
    secret_path.write_text(SECRET_TEXT + "\n")
    config = root / "nbgrader_config.py"
    config.write_text(config.read_text() + f"c.SandboxGrades.secret_file = {str(secret_path)!r}\n")
    env = isolated_env(root.parent / "home")
    nbgrader(root, "generate_assignment", ASSIGNMENT, "--force", env=env)
    students = {"ada": ({}, None), "grace": ({"relu": PUBLIC_ONLY_RELU}, None)}
    students.update({f"hijack-{name.replace('_', '-')}": ({"relu": STUB}, {"relu-solution": [code]})
                     for name, (code, _) in HIJACKS.items()})
    for student, (bugs, added) in students.items():
        target = root / "submitted" / student / ASSIGNMENT
        shutil.copytree(root / "source" / ASSIGNMENT, target)
        with_bugs(target / "mlp.ipynb", bugs, added)
    nbgrader(root, "autograde", ASSIGNMENT, "--notebook", "mlp", env=env)
    return root, secret_path, env


def points(root, student: str) -> dict[str, float]:
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        return {i: gb.find_grade(course.grade_id(i), "mlp", ASSIGNMENT, student).score
                for i in RELU_CHECKS + ["relu.hidden"]}


@pytest.mark.parametrize("name", sorted(HIJACKS))
def test_engine_hijacks_in_a_notebook_earn_nothing(name, hidden_course):
    """Each hijack of tests/attacks/hijacks.py in a cell the student added after the relu stub: relu's checks, its
    hidden check included, score the stub's nothing in the gradebook."""
    root, _, _ = hidden_course
    got = points(root, f"hijack-{name.replace('_', '-')}")
    assert got == {i: 0.0 for i in got}, got


def test_release_strips_the_hidden_cells(hidden_course):
    root, _, _ = hidden_course
    source = (root / "source" / ASSIGNMENT / "mlp.ipynb").read_text()
    release = nbformat.read(root / "release" / ASSIGNMENT / "mlp.ipynb", as_version=4)
    assert 'check(\\"relu.hidden\\")' in source or 'check("relu.hidden")' in source
    assert not any('check("relu.hidden")' in cell.source for cell in release.cells)


def test_autograde_scores_hidden_checks_as_grade_does(hidden_course):
    root, secret_path, env = hidden_course
    ada, grace = points(root, "ada"), points(root, "grace")
    assert ada == {i: rubric.BY_ID[i].points for i in ada}  # full marks, the hidden check included
    assert {i: grace[i] for i in RELU_CHECKS} == {i: ada[i] for i in RELU_CHECKS}  # every public check passes
    assert grace["relu.hidden"] < rubric.BY_ID["relu.hidden"].points

    folder = root.parent / "grace-files"
    shutil.copytree(KIT / "solutions", folder, ignore=shutil.ignore_patterns("__pycache__"))
    mlp = (folder / "mlp.py").read_text()
    body = "\n".join("    " + line for line in PUBLIC_ONLY_RELU.splitlines())
    (folder / "mlp.py").write_text(mlp.replace("    return jnp.maximum(X, 0)", body, 1))
    proc = subprocess.run([sys.executable, "-m", "grader", str(folder), "--only", "relu", "--secret-file",
                           str(secret_path), "--student-id", "grace", "--format", "json", "--quiet"], cwd=KIT,
                          env=env, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    by_grade = {c["id"]: c["points"] for c in json.loads(proc.stdout)["checks"]}
    assert by_grade["relu.hidden"] == pytest.approx(grace["relu.hidden"])
    feedback = nbformat.read(root / "autograded" / "grace" / ASSIGNMENT / "mlp.ipynb", as_version=4)
    text = "".join(o.get("text", "") for cell in feedback.cells if cell.cell_type == "code" for o in cell.outputs)
    assert "relu.hidden: FAILED" in text and "the code depends on the public inputs" in text
    assert SECRET_TEXT not in text


def test_hidden_cells_without_a_secret_stop_autograde(hidden_course, monkeypatch):
    """No secret configured: the step refuses to score the hidden cells (never as if they had run); the
    autograde pipeline then leaves the notebook for manual grading (tests/test_nbgrader.py)."""
    from grader import nbgrader_step
    root, _, _ = hidden_course
    monkeypatch.delenv("DL_BASICS_SECRET", raising=False)
    nb = nbformat.read(root / "submitted" / "ada" / ASSIGNMENT / "mlp.ipynb", as_version=4)
    cells = nbgrader_step.rubric_cells(nb)
    assert "relu.hidden" in cells
    with pytest.raises(nbgrader_step.SandboxGradeError, match="no secret is set"):
        nbgrader_step.SandboxGrades()._hidden_inputs(cells, "ada")
    assert nbgrader_step.SandboxGrades()._hidden_inputs({"relu.values": None}, "ada") is None

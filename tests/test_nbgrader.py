"""The chapter as an nbgrader course, with the real nbgrader commands: same points as `grade`, check by check.

The points nbgrader records come from the kit's sandbox (:mod:`grader.nbgrader_step`), not from the notebooks'
kernels: a student, mallory, tries the four forgeries of the attacker review in her cells (patch
``grader.notebook.check``, patch ``grader.grading.judge``, fill the reference cache with her own outputs, call the
library through ``getattr``) on top of stub and broken functions, and gains nothing. Two autograde runs: the
course as built (no kernel at all), and a copy whose pipeline also executes the notebooks (the kernel runs her
forgeries, and its outputs are overridden). Every nbgrader and ``grade`` command runs with a HOME and an
XDG_CACHE_HOME in the test's temporary folder.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from grader import rubric
from grader.authoring import course

from . import caches, submissions

ASSIGNMENT = course.ASSIGNMENT

# Two bugs, written the same way in the notebook and in the module folder graded by `grade`.
BUGS = {
    "softmax": "e = jnp.exp(X)\nreturn e / jnp.sum(e, axis=-1, keepdims=True)",
    "l2_penalty": "return jnp.sum(w ** 2)",
}

# mallory's functions: stubs, broken code, and softmax through the library looked up with getattr.
STUB = "raise NotImplementedError()"
MALLORY = {
    "data_iter": STUB,
    "sgd": "return jax.tree.map(lambda p, g: p - lr * g, params, grads)",
    "softmax": 'return getattr(jax.nn, "soft" + "max")(X, axis=-1)',
    "cross_entropy": "e = jnp.exp(logits)\n"
                     "return -jnp.log(e / jnp.sum(e, axis=-1, keepdims=True))[jnp.arange(len(y)), y]",
    "relu": "return jnp.abs(X)",
    "l2_penalty": STUB,
}

# mallory's added cells in softmax_regression.ipynb: each forgery first writes down (in her HOME) that it ran.
FORGE_CHECK = '''\
import os
import grader.notebook
import grader.rubric

def _forged_check(check_id, namespace=None):
    with open(os.path.join(os.environ["HOME"], "forged-checks"), "a") as f:
        f.write(check_id + "\\n")
    points = grader.rubric.BY_ID[check_id].points
    print(f"{check_id}: passed, {points:g}/{points:g} points.")
    return points

grader.notebook.check = _forged_check
'''
FORGE_JUDGE = '''\
import grader.grading
from grader.reports.result import CheckResult, Result

def _forged_judge(student, reference, checks=(), shortcuts=None):
    return Result(tuple(CheckResult(c.id, c.target, c.points, c.points, True, "forged") for c in checks))

grader.grading.judge = _forged_judge
'''
FORGE_CACHE = '''\
def _forge_reference_cache():
    """Store this notebook's own outputs as the reference, where the grader keeps it (digest included)."""
    import os
    from grader.data import datasets
    from grader.engine import probing, references
    folder = references.disk_cache(None, datasets.DIGITS)
    functions = {"softmax": softmax, "cross_entropy": cross_entropy}
    for probe in ("softmax", "cross_entropy"):
        references.write_cached(folder, probe, probing.observe(functions, {}, [probe])[probe])
    with open(os.path.join(os.environ["HOME"], "forged-cache"), "w") as f:
        f.write(str(folder))

_forge_reference_cache()
'''
FORGERIES = {"softmax-solution": [FORGE_CHECK, FORGE_JUDGE], "cross_entropy-solution": [FORGE_CACHE]}
SOFTMAX_NOTEBOOK = "softmax_regression"


def isolated_env(home: Path) -> dict[str, str]:
    """The environment of the commands: nbgrader's scripts on PATH (autograde calls alembic), HOME and the
    cache in ``home``, the cache seeded with the suite's trusted compilation and reference caches."""
    caches.seed(home / "cache")
    return dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
                HOME=str(home), XDG_CACHE_HOME=str(home / "cache"))


def nbgrader(course_dir: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course_dir, env=env, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc


def with_bugs(notebook: Path, bugs: dict[str, str], added: dict[str, list[str]] | None = None) -> None:
    """Rewrite the solution cells of the named functions in a filled-in notebook; insert ``added`` code cells
    (no nbgrader metadata: a student's own cells) right after the cell of each ``grade_id``."""
    nb = nbformat.read(notebook, as_version=4)
    cells = []
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        name = gid.removesuffix("-solution")
        if gid.endswith("-solution") and name in bugs:
            body = "\n".join("    " + line for line in bugs[name].splitlines())
            cell.source = re.sub(r"(### BEGIN SOLUTION\n).*?(\n\s*### END SOLUTION)",
                                 lambda m: m.group(1) + body + m.group(2), cell.source, flags=re.S)
        cells.append(cell)
        for k, code in enumerate((added or {}).get(gid, [])):
            new = nbformat.v4.new_code_cell(code)
            new["id"] = f"{gid}-added-{k}"
            cells.append(new)
    nb.cells = cells
    nbformat.write(nb, notebook)


def hand_in(root: Path, student: str, bugs: dict[str, str], added: dict[str, dict[str, list[str]]] | None = None):
    added = added or {}
    target = root / "submitted" / student / ASSIGNMENT
    shutil.copytree(root / "source" / ASSIGNMENT, target)  # filled in: the solutions
    for notebook in {rubric.STUDENT_FUNCTIONS[name] for name in bugs} | set(added):
        with_bugs(target / f"{notebook}.ipynb", bugs, added.get(notebook))


@pytest.fixture(scope="module")
def grade_results(tmp_path_factory) -> dict[str, dict[str, float]]:
    """What `grade` gives for bob's functions, for mallory's code (her forgeries appended to the module, as in her
    notebook), and for her functions alone (``mallory-functions``): one `grade batch`."""
    root = tmp_path_factory.mktemp("grade")
    folders = root / "submissions"
    folders.mkdir()
    submissions.make(folders / "bob", bodies=BUGS)
    forgeries = "\n".join(code for cells in FORGERIES.values() for code in cells)
    submissions.make(folders / "mallory", bodies=MALLORY, append={SOFTMAX_NOTEBOOK: forgeries})
    submissions.make(folders / "mallory-functions", bodies=MALLORY)
    proc = subprocess.run([sys.executable, "-m", "grader", "batch", str(folders), "--jobs", "2", "--quiet",
                           "--out", str(root / "out")], env=isolated_env(root / "home"), capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return {s: {c["id"]: c["points"] for c in json.loads((root / "out" / f"{s}.json").read_text())["checks"]}
            for s in ("bob", "mallory", "mallory-functions")}


@pytest.fixture(scope="module")
def handed_in(tmp_path_factory) -> Path:
    """The course, its assignment generated, with alice (the solutions), bob (two bugs) and mallory handed in."""
    root = tmp_path_factory.mktemp("course")
    course.build_course(root)
    nbgrader(root, "generate_assignment", ASSIGNMENT, "--force", env=isolated_env(root.parent / "home-generate"))
    hand_in(root, "alice", {})
    hand_in(root, "bob", BUGS)
    hand_in(root, "mallory", MALLORY, {SOFTMAX_NOTEBOOK: FORGERIES})
    return root


# eve's solution cells: relu names a /proc path (the policy for submitted code allows it, the review notes it);
# l2_penalty imports os (the policy refuses the weight_decay notebook's code: the refusal is for review).
EVE = {"relu": 'if X is None:\n    open("/proc/self/status")\nreturn jnp.maximum(X, 0)',
       "l2_penalty": "import os\nos.getpid()\nreturn jnp.sum(w ** 2) / 2"}
REVIEWED = "mlp", "weight_decay"


@pytest.fixture(scope="module")
def review_log(handed_in, tmp_path_factory) -> str:
    """A copy of the course with eve handed in too; the log of autograding alice's and eve's mlp and weight_decay
    notebooks (nbgrader takes globs)."""
    root = tmp_path_factory.mktemp("reviewed") / "course"
    shutil.copytree(handed_in, root)
    hand_in(root, "eve", EVE)
    proc = nbgrader(root, "autograde", ASSIGNMENT, "--student", "[ae]*", "--notebook", "[mw]*",
                    env=isolated_env(root.parent / "home"))
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def executed_course(handed_in, tmp_path_factory) -> tuple[Path, Path]:
    """A copy of the course whose autograde also runs mallory's softmax notebook in a kernel; (root, HOME)."""
    root = tmp_path_factory.mktemp("executed") / "course"
    shutil.copytree(handed_in, root)
    config = root / "nbgrader_config.py"
    text = config.read_text()
    assert "autograde_preprocessors(execute=False)" in text
    config.write_text(text.replace("(execute=False)", "(execute=True)"))
    home = root.parent / "home"
    nbgrader(root, "autograde", ASSIGNMENT, "--student", "mallory", "--notebook", SOFTMAX_NOTEBOOK,
             env=isolated_env(home))
    return root, home


@pytest.fixture(scope="module")
def graded_course(handed_in, tmp_path_factory) -> Path:
    """The course as built, autograded: no notebook runs in a kernel."""
    root = tmp_path_factory.mktemp("graded") / "course"
    shutil.copytree(handed_in, root)
    nbgrader(root, "autograde", ASSIGNMENT, env=isolated_env(root.parent / "home"))
    return root


def notebook_of(check_id: str) -> str:
    target = rubric.BY_ID[check_id].target
    return target if target in course.SECTIONS else rubric.STUDENT_FUNCTIONS[target]


def notebook_checks(notebook: str) -> list[str]:
    return [c.id for c in rubric.CHECKS if notebook_of(c.id) == notebook]


def gradebook_points(root: Path, student: str, notebooks=None) -> dict[str, float]:
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        return {c.id: gb.find_grade(course.grade_id(c.id), notebook_of(c.id), ASSIGNMENT, student).score
                for c in rubric.CHECKS if notebooks is None or notebook_of(c.id) in notebooks}


@pytest.mark.end_to_end
def test_release_has_no_solution_code(graded_course, kit):
    release = graded_course / "release" / ASSIGNMENT
    text = "".join(p.read_text() for p in release.rglob("*.ipynb"))
    text += "".join(p.read_text() for p in release.rglob("*.py"))
    assert "### BEGIN SOLUTION" not in text
    for line in ("return jnp.maximum(X, 0)", "jnp.take_along_axis(shifted", "X_exp / jnp.sum(X_exp"):
        assert line in ((kit / "solutions" / "mlp.py").read_text()
                        + (kit / "solutions" / "softmax_regression.py").read_text())
        assert line not in text
    assert text.count("raise NotImplementedError()") == 6


@pytest.mark.end_to_end
def test_reference_scores_full_marks(graded_course):
    points = gradebook_points(graded_course, "alice")
    assert points == {c.id: c.points for c in rubric.CHECKS}


@pytest.mark.end_to_end
def test_points_match_grade_check_by_check(graded_course, grade_results):
    expected = grade_results["bob"]
    assert gradebook_points(graded_course, "bob") == expected
    assert sum(expected.values()) < 100 and expected["softmax.values"] == rubric.BY_ID["softmax.values"].points
    assert expected["softmax.stability.large_logits"] == 0 and expected["l2_penalty.values"] == 0


@pytest.mark.end_to_end
def test_feedback_and_export(graded_course):
    env = isolated_env(graded_course.parent / "home")
    nbgrader(graded_course, "generate_feedback", ASSIGNMENT, env=env)
    feedback = list((graded_course / "feedback" / "bob" / ASSIGNMENT).glob("*.html"))
    assert len(feedback) == len(course.SECTIONS)
    html = (graded_course / "feedback" / "bob" / ASSIGNMENT / "softmax_regression.html").read_text()
    assert "subtract the row max before exp" in html
    nbgrader(graded_course, "export", env=env)
    rows = (graded_course / "grades.csv").read_text().splitlines()
    assert any(r.startswith(f"{ASSIGNMENT},") and ",alice," in r and ",100.0," in r for r in rows), rows[:3]


def test_course_build_is_deterministic(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    files_a = course.build_course(first)
    course.build_course(second)
    for path in files_a:
        assert path.read_bytes() == (second / path.relative_to(first)).read_bytes(), path


def gains_nothing(points: dict[str, float], functions_alone: dict[str, float]) -> bool:
    return all(points[c] <= functions_alone[c] for c in points)


@pytest.mark.end_to_end
def test_forgeries_gain_nothing(graded_course, grade_results):
    """The course as built runs no kernel: mallory's cells run only in the sandbox, and score what `grade` gives
    for the same code, no more than her functions alone.

    Each notebook is graded as a submission of its own: her library patches, in the softmax notebook, cost that
    notebook's functions (`grade` cannot vouch for code that changes a library at run time), not the others'."""
    alone = grade_results["mallory-functions"]
    expected = {c: (grade_results["mallory"] if notebook_of(c) == SOFTMAX_NOTEBOOK else alone)[c] for c in alone}
    points = gradebook_points(graded_course, "mallory")
    assert points == expected and gains_nothing(points, alone)
    home = graded_course.parent / "home"
    assert not (home / "forged-checks").exists() and not (home / "forged-cache").exists()
    assert caches.changed(home / "cache") == []  # no reference planted, nothing compiled into the cache
    # looking jax.nn.softmax up by a computed name is refused by the policy for submitted code before it runs: the
    # functions of that file, softmax and cross_entropy, score nothing
    assert all(alone[c] == 0 for c in notebook_checks(SOFTMAX_NOTEBOOK))
    # broken code scores what it earns: the stubs nothing; sgd, which forgets the batch size, leaves its inputs alone
    assert all(alone[c] == 0 for c in alone if c.split(".")[0] in ("data_iter", "l2_penalty"))
    assert alone["sgd.no_mutation"] == rubric.BY_ID["sgd.no_mutation"].points


@pytest.mark.end_to_end
def test_kernel_forgeries_are_overridden(executed_course, grade_results):
    """With the notebooks executed, mallory's forgeries run in the kernel, which reports full points for every
    check of her softmax notebook; the gradebook holds the sandbox's points, those of `grade`."""
    root, home = executed_course
    checks = notebook_checks(SOFTMAX_NOTEBOOK)
    assert sorted(set((home / "forged-checks").read_text().split())) == sorted(checks)  # every cell was forged
    forged_cache = Path((home / "forged-cache").read_text())
    assert (forged_cache / "cross_entropy.npz").exists() and (forged_cache / "cross_entropy.sha256").exists()
    expected = {c: grade_results["mallory"][c] for c in checks}
    points = gradebook_points(root, "mallory", {SOFTMAX_NOTEBOOK})
    assert points == expected and gains_nothing(points, grade_results["mallory-functions"])
    assert sum(expected.values()) < sum(rubric.BY_ID[c].points for c in checks) / 2
    nb = nbformat.read(root / "autograded" / "mallory" / ASSIGNMENT / f"{SOFTMAX_NOTEBOOK}.ipynb", as_version=4)
    texts = [o.get("text", "") for cell in nb.cells if cell.metadata.get("nbgrader", {}).get("grade")
             for o in cell.outputs]
    assert sum("scored by the grader's sandbox" in t for t in texts) == len(checks)
    assert any(t.startswith("softmax.values: FAILED, 0/4 points.") for t in texts), texts


def test_in_kernel_check_scores_nothing_under_autograde(monkeypatch, capsys):
    """A kernel run by `nbgrader autograde` without the sandbox step would score 0, never the kernel's word."""
    from grader import notebook
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert notebook.check("relu.values", {}) == 0.0
    assert "scored by the grader's sandbox" in capsys.readouterr().out


def test_pipeline_puts_the_sandbox_before_saving_grades():
    from nbgrader.preprocessors import Execute, SaveAutoGrades

    from grader import nbgrader_step
    for execute in (False, True):
        steps = nbgrader_step.autograde_preprocessors(execute=execute)
        assert steps[steps.index(SaveAutoGrades) - 1] is nbgrader_step.SandboxGrades
        assert (Execute in steps) == execute and steps.index(SaveAutoGrades) > steps.index(nbgrader_step.SandboxGrades)


def test_notebook_module_keeps_definitions():
    from grader import nbgrader_step
    cells = [
        nbformat.v4.new_code_cell("%matplotlib inline\nimport jax.numpy as jnp\nfrom chapter.linear_regression import "
                                  "synthetic_data\nimport chapter.mlp as given_mlp\nSCALE = 2"),
        nbformat.v4.new_code_cell("def relu(X):\n    from chapter.softmax_regression import accuracy\n"
                                  "    return jnp.maximum(X, 0) * SCALE / 2\nrelu(jnp.ones(3))\nx = !ls\nmain()"),
        nbformat.v4.new_code_cell("def broken(:\n    pass"),
        nbformat.v4.new_code_cell('from grader.notebook import check\ncheck("relu.values")',
                                  metadata={"nbgrader": {"grade": True, "solution": False, "grade_id": "relu-values",
                                                         "points": 3.0}}),
    ]
    source, notes = nbgrader_step.notebook_module(nbformat.v4.new_notebook(cells=cells))
    assert "from .chapter.linear_regression import synthetic_data" in source
    assert "from .chapter import mlp as given_mlp" in source
    assert "from .chapter.softmax_regression import accuracy" in source
    for gone in ("matplotlib", "get_ipython", "main()", "relu(jnp.ones(3))", "check(", "broken"):
        assert gone not in source, gone
    assert len(notes) == 1 and "code cell 3" in notes[0] and "syntax error" in notes[0]
    assert "def relu(X):" in source and "SCALE = 2" in source
    ast.parse(source)


@pytest.mark.end_to_end
def test_step_fails_loudly_when_the_sandbox_cannot_run(graded_course, tmp_path, monkeypatch):
    """A sandbox that cannot start is the grader's failure: the step raises and clears the notebook's grades."""
    from nbgrader.api import Gradebook

    from grader import nbgrader_step
    from grader.engine import references
    shutil.copy(graded_course / "gradebook.db", tmp_path / "gradebook.db")
    db_url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    nb = nbformat.read(graded_course / "autograded" / "alice" / ASSIGNMENT / "mlp.ipynb", as_version=4)
    monkeypatch.setattr(sys, "executable", "/bin/false")
    monkeypatch.setattr(references, "observations", lambda *args, **kwargs: {})
    step = nbgrader_step.SandboxGrades()
    resources = {"nbgrader": {"notebook": "mlp", "assignment": ASSIGNMENT, "student": "alice", "db_url": db_url}}
    with pytest.raises(nbgrader_step.SandboxGradeError, match="before loading the submission"):
        step.preprocess(nb, resources)
    with Gradebook(db_url) as gb:
        grades = gb.find_submission_notebook("mlp", ASSIGNMENT, "alice").grades
        assert grades and all(g.auto_score is None and g.needs_manual_grade for g in grades)


@pytest.mark.end_to_end
def test_review_notes_concern_the_students_cells(review_log):
    """The given cells and the ``chapter`` package import the kit's trusted functions: no note for that. alice, an
    honest student, has no note at all; eve's notes name her cells, and the policy's refusal of her code."""
    notes = re.findall(r"(\w+) of (\w+), for review: (.*)", review_log)
    graded = set(re.findall(r"(\w+) of (\w+): [\d.]+/[\d.]+ points from the sandbox", review_log))
    assert graded == {(nb, s) for nb in REVIEWED for s in ("alice", "eve")}, review_log[-3000:]
    assert [(nb, student) for nb, student, _ in notes] == [("mlp", "eve"), ("weight_decay", "eve")], notes
    assert re.fullmatch(r"code cell \d+: path '/proc/self/status' \(/proc or /sys path\)", notes[0][2]), notes
    assert notes[1][2].startswith("the weight_decay notebook was not run: ") and "import os" in notes[1][2], notes


def test_students_review_keeps_the_notes_on_their_cells(tmp_path):
    """The static scan's notes of a notebook's module, kept for the cells the student wrote, by code cell."""
    from grader import nbgrader_step
    from grader.engine import shortcuts
    given = {"nbgrader": {"grade": False, "solution": False, "locked": True, "grade_id": "given"}}
    solution = {"nbgrader": {"grade": False, "solution": True, "locked": False, "grade_id": "relu-solution"}}
    cells = [
        nbformat.v4.new_code_cell("from grader.engine.trusted import sgd\nimport jax.numpy as jnp", metadata=given),
        nbformat.v4.new_code_cell("def relu(X):\n"
                                  "    return jnp.maximum(X, 0) + 0 * len(open('/proc/self/maps').read())",
                                  metadata=solution),
        nbformat.v4.new_code_cell("def train(p, g):\n    return sgd(p, g, 0.1, 1)", metadata=given),
        nbformat.v4.new_code_cell("def peek():\n    return open(3)"),  # a cell the student added
    ]
    written = nbgrader_step.write_submission(nbformat.v4.new_notebook(cells=cells), "mlp", tmp_path / "sub", None)
    review = shortcuts.review_flags(tmp_path / "sub")
    assert any("grader.engine.trusted.sgd" in note for note in review) and written.refused is None
    kept = nbgrader_step.students_review([*review, "chapter/mlp.py:3: imports grader.engine.trusted.relu "
                                          "(grading kit)", "the grading process ran out of time"], "mlp.py",
                                         written.students_lines)
    assert kept == ("code cell 2: path '/proc/self/maps' (/proc or /sys path)",
                    "code cell 4: open(3) (file descriptors)", "the grading process ran out of time")

"""What a student reads before and after a run: the routines each function may not call, listed where they work
(the function's docstring, the student README), a cause every check of a function shares given once, and one
score line that states the maximum of the instructor's grade."""

from __future__ import annotations

import ast
import re

import pytest

from grader import rubric
from grader.authoring import student_readme

from . import submissions
from .conftest import KIT, run


def _docstrings() -> dict[str, str]:
    """Each student function's docstring as the exercise files give it."""
    out = {}
    for function, module in rubric.STUDENT_FUNCTIONS.items():
        tree = ast.parse((KIT / "exercises" / f"{module}.py").read_text())
        node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function)
        out[function] = ast.get_docstring(node)
    return out


def _named(routine: str, text: str) -> bool:
    """Whether ``text`` names the dotted ``routine``: in full, or its last part as a word beside the module
    that holds it ("softmax and log_softmax from jax.nn, flax.nnx")."""
    module, _, leaf = routine.rpartition(".")
    return routine in text or bool(re.search(rf"\b{re.escape(leaf)}\b", text) and module in text)


def test_each_docstring_lists_the_routines_its_function_may_not_call():
    docstrings = _docstrings()
    for function, routines in rubric.KIT_FORBIDDEN_SHORTCUTS.items():
        assert "Not allowed" in docstrings[function], function
        for routine in routines:
            assert _named(routine, docstrings[function]), (function, routine)


def test_the_student_readme_lists_them_per_function():
    text = student_readme.student_readme("grading-report", "grade-figures")
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `(\w+)` \|.*$", text, re.M)}
    for function, routines in rubric.FORBIDDEN_SHORTCUTS.items():
        for routine in routines:
            if routine != "grader":
                assert _named(routine, rows[function].replace("`", "")), (function, routine)
    assert "of the `grader` package may be called from your functions" in text


@pytest.mark.end_to_end
def test_a_forbidden_call_is_told_once_for_its_function(tmp_path):
    """jax.nn.softmax in softmax fails its eight checks with one cause: the text report and pytest give the
    message once, the other checks refer to the first; the score line gives the instructor's maximum."""
    sub = submissions.make(tmp_path / "sub", {"softmax": "return jax.nn.softmax(X, axis=-1)"})
    proc = run("-m", "grader", str(sub), "--only", "softmax", "--quiet")
    assert proc.returncode == 0, proc.stderr[-2000:]
    hidden = sum(c.points for c in rubric.HIDDEN_CHECKS if c.target == "softmax")
    assert proc.stdout.startswith(f"Score: 0/17 here; your instructor's grade adds hidden checks worth {hidden:g}, "
                                  f"out of {17 + hidden:g}\n")
    table = proc.stdout.split("Fix first")[0]
    assert table.count("calls jax.nn.softmax, which solves the exercise outright") == 1
    assert table.count("(the same as softmax.values)") == 7

    pytest_proc = run("-m", "pytest", "exercises/", "--dl-submission", str(sub), "--dl-only", "softmax", "-q",
                      "-p", "no:randomly")
    out = pytest_proc.stdout
    assert pytest_proc.returncode == 1 and "8 failed" in out, out[-2000:]
    failures = out.split("short test summary")[0]
    assert failures.count("calls jax.nn.softmax, which solves the exercise outright") == 1
    assert re.search(r"^softmax\.jit \(0/1 points\): the same as softmax\.values$", failures, re.M)


def test_different_causes_are_each_given():
    """Only a repeated message is folded: two checks of one function failing for different reasons keep both."""
    from grader.reports import report
    from grader.reports.result import CheckResult, Result

    result = Result((CheckResult("relu.values", "relu", 0, 4, False, "wrong values"),
                     CheckResult("relu.dtype", "relu", 0, 1, False, "returns float64"),
                     CheckResult("relu.grad", "relu", 0, 1, False, "wrong values")))
    assert result.repeats() == {"relu.grad": "relu.values"}
    text = report.text(result)
    assert "wrong values" in text and "returns float64" in text and "(the same as relu.values)" in text

"""Broken submissions load with a message per function, never an exception."""

from __future__ import annotations

import shutil

import pytest

from grader import grading, rubric
from grader.engine import probing, submission


@pytest.fixture
def submission_dir(tmp_path, kit):
    target = tmp_path / "student"
    shutil.copytree(kit / "solutions", target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def _load(path):
    functions, errors = submission.load_functions(path)
    assert set(functions) | set(errors) == set(rubric.STUDENT_FUNCTIONS)
    assert not set(functions) & set(errors)
    return functions, errors


def test_solutions_load_completely(submission_dir):
    functions, errors = _load(submission_dir)
    assert errors == {}


def test_syntax_error_costs_only_its_module(submission_dir):
    path = submission_dir / "mlp.py"
    path.write_text(path.read_text().replace("return jnp.maximum(X, 0)", "return jnp.maximum(X, 0"))
    functions, errors = _load(submission_dir)
    assert set(errors) == {"relu"} and "mlp.py has a syntax error on line" in errors["relu"]


def test_missing_function_and_file(submission_dir):
    (submission_dir / "weight_decay.py").unlink()
    path = submission_dir / "softmax_regression.py"
    path.write_text(path.read_text().replace("def softmax(X):", "def soft_max(X):"))
    functions, errors = _load(submission_dir)
    assert errors["l2_penalty"] == "weight_decay.py is missing from the submission"
    assert errors["softmax"] == "softmax_regression.py has no function named softmax"
    assert "cross_entropy" in functions


def test_exit_at_import_and_wrong_signature(submission_dir):
    path = submission_dir / "linear_regression.py"
    path.write_text(path.read_text() + "\nimport sys\nsys.exit(3)\n")
    path = submission_dir / "mlp.py"
    path.write_text(path.read_text().replace("def relu(X):", "def relu(X, alpha):"))
    functions, errors = _load(submission_dir)
    assert "called exit(3)" in errors["data_iter"] and "called exit(3)" in errors["sgd"]
    assert errors["relu"] == "relu(X, alpha) cannot be called as relu(X)"


def test_broken_submission_gets_honest_partial_score(submission_dir, reference_obs):
    path = submission_dir / "mlp.py"
    path.write_text(path.read_text().replace("return jnp.maximum(X, 0)", "return jnp.maximum(X, 0"))
    functions, errors = _load(submission_dir)
    result = grading.judge(probing.observe(functions, errors), reference_obs)
    lost = {c.id for c in result.checks if not c.passed}
    assert lost == {"relu.values", "relu.grad", "relu.jit", "train.mlp"}
    assert result.score == 100 - 13
    assert all("syntax error" in c.message for c in result.checks if c.id in lost)

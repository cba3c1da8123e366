"""Feedback that points at the student's line: an error raised in a submission's code names the file, the line and
the statement (the deepest frame in the submission's files) and, for the common families, a hint; well-known wrong
shapes are named as causes; reports list the parts in the sections' order."""

from __future__ import annotations

import pytest

from grader import rubric
from grader.engine import student_errors, submission
from grader.reports import report
from grader.reports.result import CheckResult, Result

from . import bank, judging, mutants

# --- the place and the hint, on exceptions raised from a submission's file -----------------------------------

FAMILIES = '''\
import jax
import jax.numpy as jnp
import numpy as np


def item_assignment(x):
    x[0] = 1.0
    return x


def read_only(x):
    a = np.asarray(x)
    np.random.shuffle(a)
    return a


def no_keepdims(X):
    return jnp.exp(X) / jnp.sum(jnp.exp(X), axis=-1)


def pytree_arithmetic(params, grads, lr):
    return params - lr * grads


def branch(x):
    if x.sum() > 0:
        return x
    return -x


def outer(x):
    return helper(x)


def helper(x):
    return float(x.sum())
'''


@pytest.fixture(scope="module")
def families(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submission")
    (folder / "helpers.py").write_text(FAMILIES)
    student_errors.register_submission(str(folder))
    namespace: dict = {}
    exec(compile(FAMILIES, str(folder / "helpers.py"), "exec"), namespace)
    return namespace


def _account(fn, *args) -> str:
    try:
        fn(*args)
    except Exception as exc:
        return student_errors.describe_exception(exc)
    raise AssertionError(f"{fn.__name__} did not raise")


def _line_of(statement: str) -> int:
    return next(i for i, line in enumerate(FAMILIES.splitlines(), 1) if line.strip() == statement)


@pytest.mark.parametrize("name,statement,hint", [
    ("item_assignment", "x[0] = 1.0", ".at[i].set"),
    ("read_only", "np.random.shuffle(a)", "permutation"),
    ("no_keepdims", "return jnp.exp(X) / jnp.sum(jnp.exp(X), axis=-1)", "keepdims=True"),
    ("pytree_arithmetic", "return params - lr * grads", "jax.tree.map"),
    ("branch", "if x.sum() > 0:", "under jax.jit"),
    ("outer", "return float(x.sum())", "under jax.jit"),  # the deepest frame in the submission: helper's
])
def test_error_names_file_line_statement_and_hint(families, name, statement, hint):
    import jax
    import jax.numpy as jnp
    args = {"item_assignment": (jnp.zeros(3),), "read_only": (jnp.zeros(3),), "no_keepdims": (jnp.ones((3, 4)),),
            "pytree_arithmetic": ({"W": jnp.ones(2)}, {"W": jnp.ones(2)}, 0.1)}.get(name, (jnp.ones(3),))
    fn = families[name] if name in ("item_assignment", "read_only", "no_keepdims", "pytree_arithmetic") \
        else jax.jit(families[name])
    message = _account(fn, *args)
    assert f"(at helpers.py, line {_line_of(statement)}: `{statement}`)" in message, message
    assert hint in message, message
    assert student_errors.without_location(message).count("helpers.py") == 0


def test_error_outside_the_submission_has_no_place():
    message = _account(lambda: {"W": 1} * 0.5)
    assert "(at " not in message and "jax.tree.map" in message, message


# --- the place, through the probes, for submission files built from the bank ---------------------------------

@pytest.mark.parametrize("name,check_id,statement,hint", [
    ("data_iter_shuffles_jax_array", "data_iter.each_example_once", "np.random.shuffle(idx)", ".at[i].set"),
    ("softmax_sum_without_keepdims", "softmax.values", "return e / jnp.sum(e, axis=-1)", "keepdims=True"),
    ("sgd_float_times_dict", "sgd.update", "return params - lr * grads / batch_size", "jax.tree.map"),
    ("l2_python_float", "l2_penalty.jit", "return float(np.sum(np.asarray(w) ** 2)) / 2", "under jax.jit"),
])
def test_probe_failure_points_at_the_students_line(name, check_id, statement, hint, tmp_path, reference_obs):
    m = next(m for m in mutants.MUTANTS if m.name == name)
    folder = bank.write_submission(bank.Entry(m.name, m.function, m.impl, m.expect, m.says), tmp_path / name)
    module = rubric.STUDENT_FUNCTIONS[m.function]
    lines = (folder / f"{module}.py").read_text().splitlines()
    lineno = next(i for i, line in enumerate(lines, 1) if line.strip().startswith(statement))
    functions, errors = submission.load_functions(folder)
    assert not errors
    result = judging.observe_and_judge(functions, errors, [m.function], reference_obs,
                                       rubric.checks_for([m.function]))
    message = next(c.message for c in result.checks if c.id == check_id)
    assert f"(at {module}.py, line {lineno}: `{statement}" in message, message
    assert hint in message, message
    assert str(folder) not in message  # the file relative to the submission, never the machine's path


# --- sections' order in the reports ----------------------------------------------------------------------------

SECTIONS_ORDER = ["data_iter", "sgd", "linear_regression", "softmax", "cross_entropy", "softmax_regression",
                  "relu", "mlp", "l2_penalty", "weight_decay"]


def _result() -> Result:
    """Every check of the rubric, in rubric order, each failing."""
    return Result(tuple(CheckResult(c.id, c.target, 0.0, c.points, False, f"{c.id} is wrong") for c in rubric.CHECKS))


def _positions(text: str, needles: list[str]) -> list[int]:
    return [text.index(n) for n in needles]


def test_targets_in_the_sections_order():
    assert rubric.section_order(rubric.TARGETS) == SECTIONS_ORDER
    assert list(_result().by_target()) == SECTIONS_ORDER


def test_text_and_markdown_list_parts_in_the_sections_order():
    result = _result()
    text = report.text(result)
    heads = _positions(text, [f"\n{t}  " for t in SECTIONS_ORDER])
    assert heads == sorted(heads), text
    md = report.markdown(result)
    table = _positions(md, [f"| `{t}` |" for t in SECTIONS_ORDER])
    assert table == sorted(table), md
    first_ids = [next(c.id for c in rubric.CHECKS if c.target == t) for t in SECTIONS_ORDER]
    fixes = _positions(md, [f"| `{i}` |" for i in first_ids])
    assert fixes == sorted(fixes), md
    assert report.fix_first(result).startswith("Fix first: data_iter (")
    junit = report.junit(result)
    suites = _positions(junit, [f'<testsuite name="{t}"' for t in SECTIONS_ORDER])
    assert suites == sorted(suites)


# --- named shapes and pytree keys ------------------------------------------------------------------------------

def _failed(function: str, impl, solution_functions, reference_obs) -> dict[str, str]:
    return judging.failed_messages(judging.swap(function, impl, solution_functions, reference_obs, only_own=True))


def test_relu_reduced_over_an_axis_is_named(solution_functions, reference_obs):
    failed = _failed("relu", mutants.relu_max_over_axis, solution_functions, reference_obs)
    assert "has shape (4, 5), expected (3, 4, 5): it reduces X over an axis" in failed["relu.values"]
    assert "jnp.maximum(X, 0)" in failed["relu.values"]


def test_relu_reduced_over_another_axis_is_named_by_its_shape(solution_functions, reference_obs):
    import jax.numpy as jnp
    failed = _failed("relu", lambda X: jnp.max(X, axis=-1), solution_functions, reference_obs)
    assert "has shape (3, 4), expected (3, 4, 5): it reduces X over an axis" in failed["relu.values"]


def test_cross_entropy_n_by_n_from_broadcasting_is_named(solution_functions, reference_obs):
    failed = _failed("cross_entropy", mutants.cross_entropy_max_kept_sum_dropped, solution_functions, reference_obs)
    assert "has shape (8, 8), expected (8,): it has shape (n, n), from an (n, 1) term added to an (n,) term" \
        in failed["cross_entropy.values"]
    # the other (n, n) mistake keeps its own cause
    failed = _failed("cross_entropy", mutants.cross_entropy_wrong_indexing, solution_functions, reference_obs)
    assert "logits[jnp.arange(n), y]" in failed["cross_entropy.values"]
    assert "(n, 1) term" not in failed["cross_entropy.values"]


def test_sgd_names_the_leaf_by_its_key(solution_functions, reference_obs):
    failed = _failed("sgd", mutants.sgd_no_divide, solution_functions, reference_obs)
    assert "sgd on a dict of parameters, params['b'], is off" in failed["sgd.update"], failed["sgd.update"]
    assert all("leaf 0" not in message for message in failed.values())


@pytest.mark.end_to_end
def test_an_error_inside_a_jax_call_reaches_the_report_through_the_sandbox(tmp_path):
    """Through the real `grade`: a broadcasting error that JAX raises (and filters its traceback for) is shown with the
    student's line and the hint, not as the guard refusing JAX's own traceback formatting."""
    import json

    from . import submissions
    from .conftest import run

    folder = submissions.make(tmp_path / "sub", bodies={"softmax": "e = jnp.exp(X - jnp.max(X, axis=-1, keepdims=True))"
                                                                   "\nreturn e / jnp.sum(e, axis=-1)"})
    proc = run("-m", "grader", str(folder), "--only", "softmax", "--format", "json", "--quiet")
    assert proc.returncode == 0, proc.stderr
    messages = [c["message"] for c in json.loads(proc.stdout)["checks"] if c["id"] != "softmax.stability.large_logits"]
    assert messages and not any("Refused" in m or "reaches for" in m for m in messages), messages
    assert all("Incompatible shapes for broadcasting" in m and "`return e / jnp.sum(e, axis=-1)`" in m
               and "keepdims" in m for m in messages), messages

"""Hidden checks, proven both ways: correct code earns them on anyone's hidden inputs; code that is right only
on the public inputs passes every public check and loses exactly its hidden check, whose message says so
without showing the inputs; a function that fails publicly is told the cause is the public check's.

The end-to-end half (the real ``grade`` and ``grade batch`` with ``--secret-file``) is tests/test_hidden_cli.py.
"""

from __future__ import annotations

import os
import sysconfig
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from grader import grading, rubric
from grader.checks import data_iter as data_iter_checks
from grader.checks import sgd as sgd_checks
from grader.engine import probing, references, secret

from .mutants import CORRECT, MUTANTS

SECRET = secret.Secret(b"a test secret of the kit's own suite")
STUDENTS = ("ada", "grace", "alan")


def _grade(function: str, impl, solution_functions, reference_obs, student: str = "ada"):
    """Grade ``function`` alone (``impl``), its public checks and its hidden check, as ``student``. The trainings
    are left out: the bank (tests/test_checks_both_ways.py) proves what a function costs them."""
    seeds = grading.HiddenInputs(SECRET, student).seeds([function])
    probes = [function, *seeds]
    observations = probing.observe({function: impl}, {}, probes, seeds=seeds)
    reference = dict(reference_obs) | references.observations(None, list(seeds), seeds=seeds)
    checks = rubric.with_seeds([c for c in rubric.CHECKS if c.probe == function], seeds)
    return grading.judge(observations, reference, checks)


# --- the secret and its seeds ---------------------------------------------------------------------------------

def test_same_secret_and_id_same_seeds_other_id_other_seeds():
    probes = list(rubric.PROBES)
    first = grading.HiddenInputs(SECRET, "ada").seeds(probes)
    assert set(first) == set(rubric.HIDDEN_PROBES)
    assert grading.HiddenInputs(secret.Secret(b"a test secret of the kit's own suite"), "ada").seeds(probes) == first
    assert all(first[p] != s for p, s in grading.HiddenInputs(SECRET, "grace").seeds(probes).items())
    other_secret = grading.HiddenInputs(secret.Secret(b"another secret, as long as needed"), "ada").seeds(probes)
    assert all(first[p] != s for p, s in other_secret.items())


def test_seeds_draw_other_inputs_than_the_public_ones():
    """Another student's hidden passes differ, and none is the public one."""
    seeds = [grading.HiddenInputs(SECRET, s).seeds(["data_iter"])["hidden.data_iter"] for s in STUDENTS]
    passes = [data_iter_checks.passes(seed) for seed in seeds]
    assert len({p for p in passes}) == len(STUDENTS)
    assert all(p != data_iter_checks.PASSES for p in passes)
    assert sgd_checks.hidden(seeds[0]).batch != sgd_checks.hidden(seeds[1]).batch or \
        sgd_checks.hidden(seeds[0]).lr != sgd_checks.hidden(seeds[1]).lr


def test_short_secret_refused_and_fingerprint_hides_it():
    with pytest.raises(secret.SecretError, match="at least 16"):
        secret.Secret(b"short")
    key = b"0123456789abcdef0123456789abcdef"
    fingerprint = secret.Secret(key).fingerprint()
    assert len(fingerprint) == 16 and fingerprint not in key.decode() and key.decode() not in repr(secret.Secret(key))


def test_secret_where_graded_code_can_read_it_is_refused(tmp_path):
    folder = tmp_path / "submission"
    folder.mkdir()
    (folder / "secret").write_text("x" * 40)
    with pytest.raises(secret.SecretError, match="can read"):
        secret.refuse_readable_by_children(folder / "secret", folder)
    inside_python = Path(sysconfig.get_paths()["purelib"]) / "secret"
    with pytest.raises(secret.SecretError, match="can read"):
        secret.refuse_readable_by_children(inside_python, folder)
    secret.refuse_readable_by_children(tmp_path / "elsewhere", folder)  # outside both: accepted


# --- both ways, in process -------------------------------------------------------------------------------------

def test_reference_earns_every_hidden_check(solution_functions, reference_obs):
    for function in rubric.STUDENT_FUNCTIONS:
        result = _grade(function, solution_functions[function], solution_functions, reference_obs)
        hidden = [c for c in result.checks if c.hidden]
        assert [c.id for c in hidden] == [f"{function}.hidden"] and hidden[0].passed, hidden


# Each alternative's hidden probe compiles afresh (new shapes): CI runs the first alternative of each function and
# the log-sum-exp ones (the closest to the tolerances); DL_BASICS_FULL_BANK=1 runs them all.
HIDDEN_SAMPLE = [c for i, c in enumerate(CORRECT) if os.environ.get("DL_BASICS_FULL_BANK")
                 or "logsumexp" in c[0] or c[1] not in {d[1] for d in CORRECT[:i]}]


@pytest.mark.parametrize("name,function,impl", HIDDEN_SAMPLE, ids=[c[0] for c in HIDDEN_SAMPLE])
def test_correct_alternative_earns_its_hidden_check(name, function, impl, solution_functions, reference_obs):
    result = _grade(function, impl, solution_functions, reference_obs, "grace")
    assert [(c.id, c.message) for c in result.checks if not c.passed] == []


# Code right only on the public inputs: the kinds of dependence a hidden check exists to catch.
def _public_passes_hardcoded():
    """data_iter whose batches for the public passes are written in (recorded from the reference), and which
    yields the examples in order for anything else: the literal hard-coding of the visible answers."""
    table = {}
    for _, n, b, key, kind in data_iter_checks.PASSES:
        order = np.asarray(jax.random.permutation(jax.random.PRNGKey(key), n)).tolist()
        table[(n, b, tuple(np.asarray(jax.random.PRNGKey(key)).tolist()))] = order

    def data_iter(batch_size, features, labels, key):
        n = len(features)
        order = table.get((n, batch_size, tuple(np.asarray(key).tolist())), list(range(n)))
        for i in range(0, n, batch_size):
            idx = np.array(order[i:i + batch_size])
            yield features[idx], labels[idx]
    return data_iter


def _softmax_stable_on_public_shapes(X):
    """Stable (row max subtracted) on the public shapes only; plain exp / sum elsewhere."""
    public = {(8, 5), (2, 3, 4), (4, 4), (3, 4), (6, 4), (4, 6)}
    m = jnp.max(X, axis=-1, keepdims=True) if X.shape in public else 0.0
    e = jnp.exp(X - m)
    return e / jnp.sum(e, axis=-1, keepdims=True)


def _cross_entropy_stable_on_public_shapes(logits, y):
    """Log-sum-exp shifted by each row's max on the public shapes only (the trainings' logits are small)."""
    m = jnp.max(logits, axis=-1, keepdims=True) if logits.shape in ((8, 5), (4, 4)) else 0.0
    lse = (m + jnp.log(jnp.sum(jnp.exp(logits - m), axis=-1, keepdims=True)))[:, 0]
    return lse - logits[jnp.arange(logits.shape[0]), y]


def _sgd_batch_of_four(params, grads, lr, batch_size):
    """Divides by 4, the public probe's batch size, instead of batch_size."""
    return jax.tree.map(lambda p, g: p - lr * g / 4, params, grads)


def _relu_float16_by_shape(x):
    """Keeps float16 only for the public (4, 5) float16 array."""
    out = jnp.maximum(x, 0)
    return out if x.dtype != jnp.float16 or x.shape == (4, 5) else out.astype(jnp.float32)


def _l2_penalty_public_shapes(w):
    """Halves the sum only for the public shapes."""
    total = jnp.sum(w ** 2)
    return total / 2 if w.shape in ((5, 3), (7,)) else total


PUBLIC_ONLY = [
    ("data_iter", _public_passes_hardcoded()),
    ("softmax", _softmax_stable_on_public_shapes),
    ("cross_entropy", _cross_entropy_stable_on_public_shapes),
    ("sgd", _sgd_batch_of_four),
    ("relu", _relu_float16_by_shape),
    ("l2_penalty", _l2_penalty_public_shapes),
]


@pytest.mark.parametrize("function,impl", PUBLIC_ONLY, ids=[f for f, _ in PUBLIC_ONLY])
def test_code_right_only_on_public_inputs_loses_exactly_its_hidden_check(function, impl, solution_functions,
                                                                           reference_obs):
    result = _grade(function, impl, solution_functions, reference_obs)
    failed = [c for c in result.checks if not c.passed]
    assert [c.id for c in failed] == [f"{function}.hidden"], [(c.id, c.message) for c in failed]
    check = failed[0]
    assert check.hidden and check.points < check.max_points == rubric.BY_ID[check.id].points
    assert result.score == pytest.approx(result.max_score - (check.max_points - check.points))
    assert check.message.startswith("on hidden inputs of the same kinds (not shown)")
    assert f"while every public check of {function} passes: the code depends on the public inputs" in check.message


def test_hidden_message_shows_no_input(solution_functions, reference_obs):
    """The batch size and learning rate of the hidden sgd probe appear nowhere in its message."""
    result = _grade("sgd", _sgd_batch_of_four, solution_functions, reference_obs)
    message = next(c.message for c in result.checks if c.id == "sgd.hidden")
    seed = grading.HiddenInputs(SECRET, "ada").seeds(["sgd"])["hidden.sgd"]
    hidden = sgd_checks.hidden(seed)
    assert f"batch_size {hidden.batch}" not in message and str(hidden.lr) not in message and "shape (" not in message


@pytest.mark.parametrize("m", [m for m in MUTANTS if m.function in ("softmax", "sgd", "relu")][::3],
                         ids=lambda m: m.name)
def test_public_failure_is_named_as_the_hidden_cause(m, solution_functions, reference_obs):
    """A known mistake that fails public checks of its function fails the hidden check too, which points to the
    first public check that fails."""
    result = _grade(m.function, m.impl, solution_functions, reference_obs)
    own_public = [c.id for c in result.checks if c.target == m.function and not c.hidden and not c.passed]
    hidden = next(c for c in result.checks if c.id == f"{m.function}.hidden")
    if not own_public:  # a mistake seen only by a training (or by the source scan)
        return
    assert not hidden.passed
    assert f"same cause as {own_public[0]}, which fails on the public inputs too" in hidden.message

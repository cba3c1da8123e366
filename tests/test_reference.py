"""The kit's solutions agree with the trusted library functions, and both earn full marks."""

from __future__ import annotations

import numpy as np
import pytest

from grader import grading, rubric
from grader.engine import references, trusted

FUNCTION_PROBES = [p for p in rubric.PROBES if p in rubric.STUDENT_FUNCTIONS]


@pytest.fixture(scope="module")
def library_obs():
    return references.observations("library")


@pytest.mark.parametrize("probe", FUNCTION_PROBES)
def test_solutions_match_library_on_every_probe(probe, reference_obs, library_obs):
    mine, theirs = reference_obs[probe], library_obs[probe]
    assert mine.errors == {} and theirs.errors == {}
    assert set(mine.values) == set(theirs.values)
    for key, expected in theirs.values.items():
        if key == "grad_at_zero":  # any subgradient in [0, 1]: jnp.maximum gives 0.5, jax.nn.relu 0
            continue
        actual = mine.values[key]
        assert actual.shape == expected.shape, key
        if expected.dtype.kind in "US":
            assert str(actual) == str(expected), key
        else:
            np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-3 if "large" in key else 1e-6,
                                       err_msg=key)


def test_solutions_graded_against_library_get_full_marks(reference_obs, library_obs):
    result = grading.judge(reference_obs, library_obs)
    assert [(c.id, c.message) for c in result.checks if not c.passed] == []
    assert result.score == 100


def test_library_graded_against_solutions_get_full_marks(reference_obs, library_obs):
    result = grading.judge(library_obs, reference_obs)
    assert result.score == 100


@pytest.mark.parametrize("seed", range(5))
def test_trusted_functions_meet_the_exercises_contracts(seed):
    """The library versions (the trainings' parts from other sections, the notebooks' imports) hold the contracts
    the README states, on seeded random inputs: each function's defining equation, computed here in float64."""
    import jax
    rng = np.random.default_rng(seed)
    n, k, b = int(rng.integers(5, 40)), int(rng.integers(2, 9)), int(rng.integers(1, 7))
    logits = (rng.standard_normal((n, k)) * 10 ** rng.uniform(0, 4)).astype(np.float32)
    logits[0, 0] = -np.inf
    y = rng.integers(0, k, n)

    shifted = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    exact = np.exp(shifted) / np.exp(shifted).sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(trusted.softmax(logits), exact, rtol=1e-5, atol=1e-6)
    log_softmax = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    finite = np.isfinite(log_softmax[np.arange(n), y])
    np.testing.assert_allclose(np.asarray(trusted.cross_entropy(logits, y))[finite],
                               -log_softmax[np.arange(n), y][finite], rtol=1e-4, atol=1e-4)

    X = rng.standard_normal((3, n)).astype(np.float32)
    np.testing.assert_array_equal(trusted.relu(X), np.where(X > 0, X, 0))
    assert np.asarray(trusted.relu(X)).dtype == X.dtype
    np.testing.assert_allclose(trusted.l2_penalty(X), (X.astype(np.float64) ** 2).sum() / 2, rtol=1e-5)

    params = {"w": X, "b": X[0]}
    grads = {"w": 2 * X, "b": -X[0]}
    new = trusted.sgd(params, grads, 0.1, b)
    for key in params:
        np.testing.assert_allclose(new[key], params[key] - 0.1 * grads[key] / b, rtol=1e-6, atol=1e-7)

    features, labels = rng.standard_normal((n, 2)), np.arange(n)
    batches = list(trusted.data_iter(b, features, labels, jax.random.key(seed)))
    assert [len(yb) for _, yb in batches] == [b] * (n // b) + ([n % b] if n % b else [])
    seen = np.concatenate([np.asarray(yb) for _, yb in batches])
    assert sorted(seen.tolist()) == list(range(n))  # every example once
    for Xb, yb in batches:
        # rows and labels stay paired (the batches are float32 arrays on the device, as JAX computes by default)
        np.testing.assert_array_equal(Xb, features.astype(np.float32)[np.asarray(yb)])


def test_training_figures_of_the_reference(reference_obs):
    """The reference's own training results, as reported in the README, sit clearly past each threshold."""
    from grader.checks.trainings import tasks
    assert tasks.linear_regression_error(reference_obs["linear_regression"]) < 0.002
    assert tasks.classifier_accuracy("softmax_regression", reference_obs["softmax_regression"]) >= 0.935
    assert tasks.classifier_accuracy("mlp", reference_obs["mlp"]) >= 0.94
    loss0, loss3 = tasks.weight_decay_test_losses(reference_obs["weight_decay"])
    assert loss3 < 0.2 and loss0 > 50

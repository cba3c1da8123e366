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


def test_trusted_functions_are_the_library_ones():
    import jax
    import optax
    x = np.array([[1e4, 0.0, -np.inf]], np.float32)
    np.testing.assert_array_equal(trusted.softmax(x), jax.nn.softmax(x))
    y = np.array([1])
    np.testing.assert_array_equal(trusted.cross_entropy(x[:, :2], y),
                                  optax.softmax_cross_entropy_with_integer_labels(x[:, :2], y))


def test_training_figures_of_the_reference(reference_obs):
    """The reference's own training results, as reported in the README, sit clearly past each threshold."""
    from grader.checks.trainings import tasks
    assert tasks.linear_regression_error(reference_obs["linear_regression"]) < 0.002
    assert tasks.classifier_accuracy("softmax_regression", reference_obs["softmax_regression"]) >= 0.935
    assert tasks.classifier_accuracy("mlp", reference_obs["mlp"]) >= 0.94
    loss0, loss3 = tasks.weight_decay_test_losses(reference_obs["weight_decay"])
    assert loss3 < 0.2 and loss0 > 50

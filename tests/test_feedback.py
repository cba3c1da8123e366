"""Feedback that teaches: one bug is named once, by the check it breaks, and the other checks it breaks say
"same cause as …" instead of guessing; a stub's hint reaches the student alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader import rubric
from grader.engine import submission

from . import judging, mutants

EXERCISES = Path(__file__).resolve().parent.parent / "exercises"


def _messages(function: str, impl, solution_functions, reference_obs) -> dict[str, str]:
    """The failing checks' messages, by id, for the reference with ``function`` swapped for ``impl``."""
    return judging.failed_messages(judging.swap(function, impl, solution_functions, reference_obs))


def test_book_cross_entropy_of_probabilities_is_named(solution_functions, reference_obs):
    failed = _messages("cross_entropy", mutants.cross_entropy_book_mean_of_probabilities,
                       solution_functions, reference_obs)
    own = {k: v for k, v in failed.items() if k.startswith("cross_entropy.")}
    assert set(own) == {c.id for c in rubric.checks_for(["cross_entropy"])}
    assert "takes logits" in own["cross_entropy.values"]
    for check_id, message in own.items():
        assert "log(softmax" not in message and "Python loops" not in message, (check_id, message)
        if check_id != "cross_entropy.values":
            assert "same cause as cross_entropy.values" in message, (check_id, message)
    assert "the same result as cross_entropy without jit, so jit works" in own["cross_entropy.jit"]
    assert "the training loss was nan from epoch 1" in failed["train.softmax_regression"]


def test_sgd_without_batch_size_is_named_once(solution_functions, reference_obs):
    failed = _messages("sgd", mutants.sgd_no_divide, solution_functions, reference_obs)
    assert "it does not divide by batch_size" in failed["sgd.update"]
    for check_id in ("sgd.any_pytree", "sgd.jit", "sgd.matches_optax"):
        assert "same cause as sgd.update: it does not divide by batch_size" in failed[check_id], failed[check_id]
    assert "jax.tree.map" not in failed["sgd.any_pytree"] and "in-place" not in failed["sgd.jit"]
    assert "the same result as sgd without jit" in failed["sgd.jit"]


def test_l2_penalty_jit_names_the_values_cause(solution_functions, reference_obs):
    failed = _messages("l2_penalty", mutants.l2_missing_half, solution_functions, reference_obs)
    assert "same cause as l2_penalty.values: it is missing the ½" in failed["l2_penalty.jit"]
    assert "Python sum" not in failed["l2_penalty.jit"]


@pytest.mark.parametrize("impl,blames_global_max", [(mutants.softmax_naive, False),
                                                    (mutants.softmax_global_max, True)])
def test_row_scales_blames_the_whole_array_max_only_when_the_output_shows_it(impl, blames_global_max,
                                                                             solution_functions, reference_obs):
    failed = _messages("softmax", impl, solution_functions, reference_obs)
    message = failed["softmax.stability.row_scales"]
    assert ("max of the whole array" in message) == blames_global_max, message
    # the same bug as at ±1e4: named there with its remedy, and only its diagnosis repeated here
    assert "same cause as softmax.stability.large_logits" in message, message
    remedy = failed["softmax.stability.large_logits"]
    assert "each row's own max" in remedy or "subtract the row max" in remedy, remedy


def test_empty_batch_is_blamed_on_data_iter_in_training(solution_functions, reference_obs):
    failed = _messages("data_iter", mutants.data_iter_trailing_empty_batch, solution_functions, reference_obs)
    assert "an empty batch is yielded at the end" in failed["data_iter.batch_sizes"]
    training = failed["train.linear_regression"]
    assert "data_iter yielded an empty batch" in training and "sgd not dividing" not in training


def _stub_hint(stub) -> str:
    try:
        next(iter(stub(*[None] * stub.__code__.co_argcount)))
    except NotImplementedError as exc:
        return str(exc)
    raise AssertionError(f"{stub.__name__} does not raise NotImplementedError")


def test_stub_hint_comes_alone(reference_obs):
    """Each check of a stub says what was called and the exercise's hint, and nothing after it."""
    functions, errors = submission.load_functions(EXERCISES)
    probes = [p for p in rubric.PROBES if p in rubric.STUDENT_FUNCTIONS]
    result = judging.observe_and_judge(functions, errors, probes, reference_obs,
                                       rubric.checks_for(rubric.STUDENT_FUNCTIONS))
    for c in result.checks:
        hint = _stub_hint(functions[c.target])
        assert c.message.endswith(f": not implemented yet — the exercise's hint: {hint}"), (c.id, c.message)

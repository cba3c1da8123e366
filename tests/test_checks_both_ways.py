"""Every check is proven both ways: the reference earns it, a known-wrong implementation loses it."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader import grading, rubric

from . import judging, mutants
from .mutants import CORRECT, MUTANTS

BANK_SOURCE = Path(mutants.__file__).read_text()


def _grade_with(function: str, impl, solution_functions, reference_obs):
    """Grade the reference with one function swapped, its forbidden calls read from the bank's source."""
    return judging.swap(function, impl, solution_functions, reference_obs, source=BANK_SOURCE)


def test_reference_gets_full_marks(reference_obs):
    result = grading.judge(reference_obs, reference_obs)
    assert [c.id for c in result.checks if not c.passed] == []
    assert result.score == result.max_score == 100


def test_every_check_has_a_mutant_that_fails_it():
    covered = set().union(*(m.expect for m in MUTANTS))
    assert covered == {c.id for c in rubric.CHECKS}  # the hidden checks: tests/test_hidden.py


def test_bank_size():
    """At least 8 known mistakes and 6 correct alternatives (the solution among them) per function."""
    for function in rubric.STUDENT_FUNCTIONS:
        assert sum(m.function == function for m in MUTANTS) >= 8, function
        assert sum(c[1] == function for c in CORRECT) + 1 >= 6, function


@pytest.mark.parametrize("m", MUTANTS, ids=[m.name for m in MUTANTS])
def test_mutant_loses_exactly_its_checks(m, solution_functions, reference_obs):
    result = _grade_with(m.function, m.impl, solution_functions, reference_obs)
    failed = {c.id for c in result.checks if not c.passed}
    assert failed == m.expect
    lost = sum(c.max_points - c.points for c in result.checks)
    assert lost == pytest.approx(sum(rubric.BY_ID[i].points for i in m.expect))
    own = [c for c in result.checks if c.id in m.expect and c.target == m.function]
    assert any(m.says in c.message for c in own), [c.message for c in own]


@pytest.mark.parametrize("name,function,impl", CORRECT, ids=[c[0] for c in CORRECT])
def test_correct_alternative_gets_full_marks(name, function, impl, solution_functions, reference_obs):
    result = _grade_with(function, impl, solution_functions, reference_obs)
    assert [(c.id, c.message) for c in result.checks if not c.passed] == []

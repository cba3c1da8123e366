"""Your tests: one per check of the grading rubric, the same checks `grade` and nbgrader score.

Run ``pytest exercises/`` (add ``--dl-only softmax`` for one function). Each failure says what the grader saw and
the likely cause; the summary at the end prints your score per function.
"""

import pytest

from grader.pytest_plugin import assert_check_passes, visible_check_ids


@pytest.mark.parametrize("check_id", visible_check_ids())
def test_check(grading, check_id):
    assert_check_passes(grading, check_id)

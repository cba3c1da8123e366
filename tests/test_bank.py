"""A sample of the bank of right and wrong implementations, each a whole submission folder, through the real
`grade batch` (``python -m tests.bank`` grades the whole bank the same way; the in-process bank proves every entry)."""

from __future__ import annotations

import pytest

from . import bank


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    chosen = bank.sample()
    rows = bank.verdicts(bank.grade_bank(tmp_path_factory.mktemp("bank"), jobs=2, chosen=chosen))
    assert sorted(r["entry"] for r in rows) == sorted(e.name for e in chosen)
    return rows


def test_sample_covers_every_function_every_training_and_correct_alternatives():
    chosen = bank.sample()
    assert {e.function for e in chosen if e.expect} == set(bank.rubric.STUDENT_FUNCTIONS)
    assert {e.function for e in chosen if e.expect is None} == set(bank.SAMPLE_CORRECT)
    trained = {c for e in chosen if e.expect for c in e.expect if c.startswith("train.")}
    assert trained == {c.id for c in bank.rubric.CHECKS if c.id.startswith("train.")}


@pytest.mark.end_to_end
def test_every_correct_alternative_gets_full_marks(rows):
    assert [(r["entry"], r["detail"]) for r in rows if r["kind"] == "correct" and not r["ok"]] == []


@pytest.mark.end_to_end
def test_every_mistake_is_caught_exactly_and_named(rows):
    assert [(r["entry"], r["detail"], r["caught"], r["named"]) for r in rows
            if r["kind"] == "mistake" and not r["ok"]] == []


@pytest.mark.end_to_end
def test_scorecard_reports_all_clear(rows):
    card = bank.scorecard(rows)
    assert "every verdict as expected" in card

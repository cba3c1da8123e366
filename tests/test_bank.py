"""The bank of right and wrong implementations, each a submission folder, through the real `grade batch`."""

from __future__ import annotations

import pytest

from . import bank


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    return bank.verdicts(bank.grade_bank(tmp_path_factory.mktemp("bank"), jobs=2))


def test_every_correct_alternative_gets_full_marks(rows):
    assert [(r["entry"], r["detail"]) for r in rows if r["kind"] == "correct" and not r["ok"]] == []


def test_every_mistake_is_caught_exactly_and_named(rows):
    assert [(r["entry"], r["detail"], r["caught"], r["named"]) for r in rows
            if r["kind"] == "mistake" and not r["ok"]] == []


def test_scorecard_reports_all_clear(rows):
    card = bank.scorecard(rows)
    assert "every verdict as expected" in card

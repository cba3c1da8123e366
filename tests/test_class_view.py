"""The class summary of `grade batch`: histogram, the checks to reteach and shared wrong answers (Markdown, PNG)."""

from __future__ import annotations

import dataclasses

import numpy as np

from grader.reports import class_view

from grader import rubric
from grader.checks.common import Observations
from grader.reports.result import CheckResult, Result

from . import submissions
from .conftest import run


def _result(failed: dict[str, str]) -> Result:
    return Result(tuple(CheckResult(c.id, c.target, 0.0 if c.id in failed else c.points, c.points,
                                    c.id not in failed, failed.get(c.id, "ok")) for c in rubric.CHECKS))


CLASS = {
    "alice": _result({}),
    "bob": _result({"softmax.stability.large_logits": "softmax returned nan: subtract the row max",
                    "relu.values": "it returns |x|"}),
    "carol": _result({"softmax.stability.large_logits": "softmax returned nan: subtract the row max"}),
    "dave": _result({"softmax.stability.large_logits": "off by 0.3: subtract the row max"}),
}


def test_histogram_and_failures():
    assert class_view.score_histogram([0, 9.5, 10, 55, 96, 100]) == [2, 1, 0, 0, 0, 1, 0, 0, 0, 2]
    rows = class_view.failures(CLASS)
    assert rows[0][0] == "softmax.stability.large_logits" and rows[0][1] == 3
    assert rows[0][2][0] == ("softmax returned nan: subtract the row max", 2)  # most common message first
    assert [r[0] for r in rows] == ["softmax.stability.large_logits", "relu.values"]


def test_markdown_and_png(tmp_path):
    md, png = class_view.write(CLASS, tmp_path)
    text = md.read_text()
    assert "4 submissions" in text and "`softmax.stability.large_logits`: 3 of 4 failed" in text
    assert "2× softmax returned nan" in text and "![score histogram" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    fig = class_view.figure(CLASS)
    left, right = fig.axes
    assert left.get_title() == "Scores" and sum(p.get_height() for p in left.patches) == 4
    assert [t.get_text() for t in right.get_yticklabels()] == ["relu.values", "softmax.stability.large_logits"]
    assert [p.get_width() for p in right.patches] == [1, 3]


def test_identical_wrong_answers_are_grouped_for_review(tmp_path):
    """Through the real `grade batch`: bob and carol write the same naive softmax differently (the same wrong
    outputs), dave another mistake, erin a stub like frank's (no outputs: not a shared answer), alice the
    solutions (correct: not fingerprinted)."""
    folder = tmp_path / "class"
    submissions.make(folder / "alice")
    submissions.make(folder / "bob", bodies={"softmax": "e = jnp.exp(X)\nreturn e / e.sum(axis=-1, keepdims=True)"})
    submissions.make(folder / "carol", bodies={"softmax": "return jnp.exp(X) / jnp.sum(jnp.exp(X), -1, keepdims=True)"})
    submissions.make(folder / "dave", bodies={"softmax": "e = jnp.exp(X - X.max())\nreturn e / e.sum(axis=0)"})
    for stub in ("erin", "frank"):
        submissions.make(folder / stub, bodies={"softmax": "raise NotImplementedError('fill me in')"})
    proc = run("-m", "grader", "batch", str(folder), "--only", "softmax", "--jobs", "2", "--quiet",
               "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = (tmp_path / "out" / "class_summary.md").read_text()
    section = text.split("## Identical wrong answers (for review; no points are taken)")[1]
    assert [line.split(" — ")[0] for line in section.strip().splitlines()] == ["- `softmax`: bob, carol"]


def test_correct_functions_and_empty_probes_have_no_fingerprint():
    obs = {"softmax": Observations({"values": np.ones(3)}), "relu": Observations({"values": np.ones(3)}),
           "sgd": Observations(errors={"*": "not implemented yet"})}
    result = _result({"relu.values": "it returns |x|", "sgd.update": "not implemented yet"})
    assert set(class_view.wrong_answer_fingerprints(result, obs)) == {"relu"}
    same = Observations({"values": np.array([np.nan, -0.0, 1.000001])})
    other = Observations({"values": np.array([np.nan, 0.0, 1.0])})
    digests = [class_view.wrong_answer_fingerprints(result, {"relu": o})["relu"] for o in (same, other)]
    assert digests[0] == digests[1]  # rounded to 5 decimals, one NaN, one zero
    assert class_view.shared_wrong_answers({"a": {"relu": "x"}, "b": {"relu": "x"}, "c": {"relu": "y"}}) == \
        [("relu", ["a", "b"])]
    # softmax right on the public inputs, wrong on its hidden ones: its public outputs are right, no fingerprint
    hidden_only = dataclasses.replace(result, checks=result.checks + (
        CheckResult("softmax.hidden", "softmax", 1.0, 3.0, False, "on hidden inputs ...", hidden=True),))
    assert set(class_view.wrong_answer_fingerprints(hidden_only, obs)) == {"relu"}

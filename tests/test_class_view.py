"""The class summary of `grade batch`: histogram, the checks to reteach and shared wrong answers (Markdown, PNG)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from grader import rubric
from grader.checks.common import Observations
from grader.reports import class_summary, class_view, inert
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


def test_histogram_axis_is_the_real_maximum():
    """With the hidden checks a class is graded of 116 points: 100.7 and 116 are different bins, none "of 100"."""
    assert class_view.bin_edges(100) == [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    edges = class_view.bin_edges(116)
    assert edges[-1] == 116 and edges[-2] == 110 and len(edges) - 1 == 12
    assert class_view.score_histogram([0, 100.7, 116], 116) == [1] + [0] * 9 + [1, 1]
    assert class_view.bin_edges(23)[-2:] == [22, 23] and class_view.bin_edges(0.5)[-1] == 0.5
    graded_of_116 = {"a": Result((CheckResult("softmax.values", "softmax", 116, 116, True, "ok"),))}
    assert "| score (of 116) | students |" in class_view.markdown(graded_of_116)
    assert class_view.figure(graded_of_116).axes[0].get_xlim() == (0, 116)


def _check(cid: str, kind: str = "", message: str = "ok", cause: str = "", hidden: bool = False) -> CheckResult:
    c = rubric.BY_ID[cid]
    return CheckResult(cid, c.target, 0.0 if kind else c.points, c.points, not kind, message, hidden, kind, cause)


OVERFLOW = "exp(x) overflows to inf above ~88 in float32, and inf / inf is nan"
KINDS_CLASS = {  # softmax: right, a stub, a forbidden call, a crash, two wrong answers with one named cause
    "ann": Result((_check("softmax.values"), _check("softmax.stability.large_logits"))),
    "ben": Result((_check("softmax.values", "stub", "softmax of an (8, 5) array: not implemented yet"),
                   _check("softmax.stability.large_logits", "stub", "…: not implemented yet"),
                   _check("softmax.hidden", "stub", "on hidden inputs …", hidden=True))),
    "cy": Result((_check("softmax.values", "forbidden", "softmax calls jax.nn.softmax … (none of its checks score "
                                                        "while it does)"),
                  _check("softmax.stability.large_logits", "forbidden", "…"))),
    "di": Result((_check("softmax.values", "crash", "softmax of an (8, 5) array raised TypeError: boom"),
                  _check("softmax.stability.large_logits", "crash", "… raised TypeError: boom"))),
    "ed": Result((_check("softmax.values"),
                  _check("softmax.stability.large_logits", "wrong", f"… contains nan: {OVERFLOW}: subtract", OVERFLOW),
                  _check("softmax.hidden", "wrong", "on hidden inputs …: same cause as …", hidden=True))),
    "flo": Result((_check("softmax.values"),
                   _check("softmax.stability.large_logits", "wrong", f"… nan: {OVERFLOW}: subtract", OVERFLOW),
                   _check("softmax.hidden", "wrong", "… while every public check of softmax passes: the code depends "
                          "on the public inputs (answers …)", "the code depends on the public inputs", True))),
}


def test_each_function_keeps_stubs_forbidden_calls_crashes_and_wrong_answers_apart():
    assert class_view.statuses(KINDS_CLASS) == {"softmax": {
        "correct": ["ann"], "not attempted": ["ben"], "forbidden call": ["cy"], "crashed": ["di"],
        "wrong": ["ed", "flo"]}}
    [cause] = class_view.reteach(KINDS_CLASS)  # the hidden checks' failures are not in it, nor ben's or cy's
    assert (cause.diagnosis, cause.students, cause.checks) == (OVERFLOW, ("ed", "flo"),
                                                              ("softmax.stability.large_logits",))
    assert cause.remedy.startswith("subtract the row max before exp")
    assert class_view.unnamed(KINDS_CLASS) == []  # di's crash is softmax's "crashed", with its message
    assert class_view.unnamed({"gil": Result((_check("softmax.values", "wrong", "off by 0.3: normalise"),))}) == \
        [("softmax.values", ["gil"], [("off by 0.3: normalise", 1)])]
    assert class_view.hidden_failures(KINDS_CLASS) == [("softmax.hidden", ["flo"], ["ed"])]  # not ben's stub
    text = class_view.markdown(KINDS_CLASS)
    assert text.index("## What to reteach") < text.index(f"1. {inert.markdown(OVERFLOW)} — 2 of 6: ed, flo") \
        < text.index("## Hidden checks") < text.index("## Each function")
    assert "| `softmax` | 1 | 1 | 1 | 1 | 2 |" in text
    assert f"  - di: {inert.markdown('softmax of an (8, 5) array raised TypeError: boom')}" in text


def test_reports_without_kinds_are_read_from_their_messages():
    """A report written before checks carried their kind (grade diff's OLD, say) is classified by its messages."""
    old = {s: Result(tuple(dataclasses.replace(c, kind="", cause="") for c in r.checks))
           for s, r in KINDS_CLASS.items()}
    assert class_view.statuses(old) == class_view.statuses(KINDS_CLASS)
    assert class_view.kind_of(CheckResult("x", "softmax", 0, 1, False, "f raised ValueError: not implemented yet")) \
        == "crash"  # the student's own error saying so is not the exercise's stub


def test_markdown_and_png(tmp_path):
    md, png, page = class_summary.write(CLASS, tmp_path)
    text = md.read_text()
    assert "4 submissions" in text and "![score histogram" in text and "| score (of 100) | students |" in text
    assert "- `softmax.stability.large_logits`: 3 of 4 (bob, carol, dave)" in text  # no cause named: by check
    assert "  - 2× softmax returned nan" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert page.read_text().startswith("<!DOCTYPE html>")
    fig = class_view.figure(CLASS)
    left, right = fig.axes
    assert left.get_title() == "Scores" and sum(p.get_height() for p in left.patches) == 4
    assert left.get_xlabel() == "score (points of 100)"
    assert [t.get_text() for t in right.get_yticklabels()] == list(rubric.STUDENT_FUNCTIONS)[::-1]


@pytest.mark.end_to_end
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

"""The class summary of `grade batch`: histogram and the checks to reteach, as Markdown and a PNG."""

from __future__ import annotations

from grader import class_view, rubric
from grader.result import CheckResult, Result


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

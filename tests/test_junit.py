"""JUnit XML holds any feedback: characters XML 1.0 cannot carry (a terminal colour code, NUL) are escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from grader.reports import report
from grader.reports.result import CheckResult, Result

from .conftest import run

HOSTILE = "softmax raised ValueError: \x1b[31mred\x1b[0m and a NUL \x00 here, \x07 a bell, \ufffe, \ud800"


def _result(message: str = HOSTILE, target: str = "softmax") -> Result:
    return Result((CheckResult(f"{target}.values", target, 0.0, 5.0, False, message),
                   CheckResult(f"{target}.shape", target, 2.0, 2.0, True, "ok")))


def test_control_characters_in_a_message_still_give_parseable_xml():
    xml = report.junit(_result())
    root = ET.fromstring(xml.split("\n", 1)[1])
    failure = root.find("./testsuite/testcase/failure")
    for text in (failure.get("message"), failure.text):
        assert "\\x1b[31mred\\x1b[0m" in text and "\\x00" in text and "\\x07" in text
        assert "\\ufffe" in text and "\\ud800" in text
        assert "\x1b" not in text and "\x00" not in text
    assert root.find("./testsuite/testcase").get("name") == "softmax.values"


def test_names_and_ordinary_text_are_kept_as_they_are():
    xml = report.junit(_result("tab\there, newline\nthere, é, 漢, \U0001f600", target="s\x1bx"))
    root = ET.fromstring(xml.split("\n", 1)[1])
    assert root.find("./testsuite").get("name") == "s\\x1bx"
    assert root.find("./testsuite/testcase/failure").text == "tab\there, newline\nthere, é, 漢, \U0001f600"


def test_unescaped_control_characters_are_what_breaks_the_xml():
    """The failure the escaping prevents: ElementTree writes the raw character, which no parser reads back."""
    raw = ET.Element("failure", message="\x1b[31mred\x1b[0m \x00")
    with pytest.raises(ET.ParseError):
        ET.fromstring(ET.tostring(raw, encoding="unicode"))


def test_grade_render_junit_of_a_report_with_control_characters(tmp_path):
    saved = tmp_path / "report.json"
    saved.write_text(_result().to_json())
    out = tmp_path / "report.xml"
    proc = run("-m", "grader", "render", str(saved), "--format", "junit", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    root = ET.parse(out).getroot()
    assert root.get("failures") == "1" and "\\x1b[31m" in root.find(".//failure").get("message")

"""JUnit XML holds any feedback: characters XML 1.0 cannot carry (a terminal colour code, NUL) are escaped."""

from __future__ import annotations

import random
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


def _xml_legal(ch: str) -> bool:
    """XML 1.0's Char production: tab, newline, carriage return, U+0020-U+D7FF, U+E000-U+FFFD, U+10000 and up."""
    o = ord(ch)
    return ch in "\t\n\r" or 0x20 <= o <= 0xD7FF or 0xE000 <= o <= 0xFFFD or o >= 0x10000


def test_any_message_round_trips_every_legal_character_and_escapes_the_rest():
    """On 300 seeded random messages drawn from every range of code points (the C0 controls, DEL, the BMP, the
    surrogates, U+FFFE/U+FFFF, the astral planes), the report parses and each character XML can hold comes back as
    it was, each other one as its Python escape."""
    rng = random.Random(7)
    ranges = [(0x0, 0x1F), (0x20, 0x7F), (0x80, 0xD7FF), (0xD800, 0xDFFF), (0xE000, 0xFFFF), (0x10000, 0x10FFFF)]
    for _ in range(300):
        message = "".join(chr(rng.randint(*rng.choice(ranges))) for _ in range(rng.randint(1, 40)))
        xml = report.junit(_result(message))
        failure = ET.fromstring(xml.split("\n", 1)[1]).find("./testsuite/testcase/failure")
        expected = "".join(ch if _xml_legal(ch) else ascii(ch)[1:-1] for ch in message)
        # a parser reports a carriage return in text as a newline, and in an attribute as a space
        assert failure.text == expected.replace("\r\n", "\n").replace("\r", "\n"), ascii(message)


@pytest.mark.end_to_end
def test_grade_render_junit_of_a_report_with_control_characters(tmp_path):
    saved = tmp_path / "report.json"
    saved.write_text(_result().to_json())
    out = tmp_path / "report.xml"
    proc = run("-m", "grader", "render", str(saved), "--format", "junit", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    root = ET.parse(out).getroot()
    assert root.get("failures") == "1" and "\\x1b[31m" in root.find(".//failure").get("message")

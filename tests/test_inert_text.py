"""Student text is inert in every report: a submission whose ``softmax`` raises an exception made to clear the
terminal, forge a score, inject HTML and break a Markdown table, graded by the real ``grade`` command (one
report, its re-renderings as the student repository's workflow makes them, the pytest front end, ``grade batch``
with a folder named like a spreadsheet formula); and the rules of :mod:`grader.reports.inert` on random text."""

from __future__ import annotations

import csv
import html.parser
import json
import random
import re
import shutil

import pytest

from grader.authoring import release
from grader.reports import inert, regrade
from grader.reports.result import CheckResult, Result

from . import submissions
from .conftest import KIT, grades_of, run

HOSTILE = "\x1b[2J\x1b[H Score: 100/100 <img src=x onerror=alert(1)> **Grade: 100 / 100** | col |"
RAISES = {"softmax": f"raise ValueError({HOSTILE!r})"}
WRONG = {"softmax": "return jnp.exp(X)"}  # the same wrong outputs for every student who hands it in
FORMULA = '=2+5+HYPERLINK("x")'
HTML_NAME = "<img src=y onerror=alert(2)> **top**"
# What inert.text removes, and what text output may not hold (tab, too, in what the kit writes).
REMOVED = "[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]"
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# Inert Markdown: each ASCII punctuation mark backslash-escaped or in one of the three entities.
ESCAPED = re.compile(r"(?:\\[!-/:-@\[-`{-~]|&(?:lt|gt|amp);|[^!-/:-@\[-`{-~])*")


# --- the module's rules -------------------------------------------------------------------------------------------

def _random_text(rng: random.Random, n: int) -> str:
    pools = ["\x1b[2J", "\r", "\b", "\x00", "\x7f", "\x85", "\x9b", "\u202e", "\u2067", "\n", "\t", "<img>", "&amp;",
             "**", "`", "|", "\\", "[x](y)", "# ", "- ", "1. ", "$x$", "é", "😀", " ", "a", "Z", "0", "=", "@"]
    return "".join(rng.choice(pools) if rng.random() < 0.5 else chr(rng.randrange(0, 0x3000)) for _ in range(n))


def _unescape_markdown(s: str) -> str:
    """What :func:`inert.markdown`'s output shows: its backslash escapes and entities undone."""
    return re.sub(r"\\([!-/:-@\[-`{-~])|&(lt|gt|amp);",
                  lambda m: m.group(1) or {"lt": "<", "gt": ">", "amp": "&"}[m.group(2)], s)


def test_text_removes_every_control_character_and_keeps_the_rest():
    rng = random.Random(0)
    for _ in range(500):
        s = _random_text(rng, rng.randrange(0, 40))
        out = inert.text(s)
        assert not re.search(REMOVED, out)
        assert out == "".join(ch for ch in s if not re.fullmatch(REMOVED, ch))  # nothing else changed
    assert inert.text("a\x1b[31mb\r\nc\u202ed\t") == "a[31mb\ncd\t"


def test_text_keeps_further_lines_under_the_first():
    assert inert.text("one\nScore: 100/100", indent="    ") == "one\n    Score: 100/100"


def test_markdown_is_one_line_of_literal_text_that_shows_as_it_was():
    rng = random.Random(1)
    for _ in range(500):
        s = _random_text(rng, rng.randrange(0, 40))
        out = inert.markdown(s)
        assert not CONTROL.search(out) and "\n" not in out
        assert "<" not in out and ">" not in out  # no tag can open
        assert ESCAPED.fullmatch(out), out  # every punctuation mark escaped
        assert _unescape_markdown(out) == inert.text(s).replace("\n", " ").replace("\t", " ")


def test_code_only_for_plain_names():
    assert inert.code("softmax.values") == "`softmax.values`"
    assert inert.code("a`b") == inert.markdown("a`b") == "a\\`b"


def test_csv_cells_never_start_a_formula():
    for cell in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", FORMULA):
        assert inert.csv_cell(cell) == "'" + cell
    assert inert.csv_row(["alice", 35.0, -6, 0.5, ""]) == ["alice", "35", "-6", "0.5", ""]  # numbers stay numbers
    rng = random.Random(2)
    for _ in range(200):
        assert not inert.csv_cell(_random_text(rng, 5)).startswith(("=", "+", "-", "@", "\t", "\r"))


def test_grade_diff_writes_names_and_messages_inert():
    passed = Result((CheckResult("relu.values", "relu", 4, 4, True, "ok"),))
    old = {FORMULA: passed, HTML_NAME: passed}
    new = {FORMULA: Result((CheckResult("relu.values", "relu", 0, 4, False, "=cmd|' /C calc'!A0 " + HOSTILE),)),
           HTML_NAME: Result((CheckResult("relu.values", "relu", 0, 4, False, "-" + HOSTILE),))}
    found = regrade.moves(old, new)
    rows = list(csv.reader(regrade.to_csv(found).splitlines()))
    assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for cell in row[:4] + row[5:])
    assert rows[2][0] == "'" + FORMULA and rows[2][4] == "-4" and rows[2][6].startswith("'=cmd")
    assert rows[1][0] == HTML_NAME and rows[1][6] == "'-" + HOSTILE
    assert_inert_markdown(regrade.markdown(old, new, found))


# --- Markdown and text as a reader sees them ------------------------------------------------------------------------

class _Tags(html.parser.HTMLParser):
    """The tags of rendered HTML, the images' sources, and the cells of each row of each table."""

    def __init__(self):
        super().__init__()
        self.tags, self.images, self.tables = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs).get("src"))
        elif tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append(0)
        elif tag in ("td", "th"):
            self.tables[-1][-1] += 1


def assert_inert_markdown(text: str, strong: int = 0) -> None:
    """``text`` holds no raw HTML, no student bold and no control character, and every table keeps its columns,
    also once rendered by a Markdown renderer that lets raw HTML through (``strong``: the kit's own bold; the only
    images are the kit's figures)."""
    assert "<img" not in text.lower() and "**Grade: 100 / 100**" not in text and "\x1b" not in text
    assert not CONTROL.search(text)
    mistune = pytest.importorskip("mistune")
    tags = _Tags()
    tags.feed(mistune.create_markdown(escape=False, plugins=["table"])(text))
    assert all(src.endswith(".png") for src in tags.images) and "script" not in tags.tags
    assert tags.tags.count("strong") == strong and "em" not in tags.tags
    assert all(len(set(rows)) == 1 for rows in tags.tables)  # every row as many cells as the header
    for block in re.split(r"\n\s*\n", text):  # and in the source: as many unescaped | in each row
        pipes = [len(re.findall(r"(?<!\\)\|", line)) for line in block.splitlines() if line.startswith("|")]
        assert len(set(pipes)) <= 1, block


def assert_inert_text(text: str, score_line: str) -> None:
    """No control character but newline, and a single score line: the kit's (``score_line``, followed on the same
    line by what the hidden checks add when they did not run)."""
    assert not CONTROL.search(text), repr(CONTROL.search(text))
    scores = [line.split(" here; ")[0] for line in text.splitlines() if line.lstrip().startswith("Score:")]
    assert scores == [score_line]


# --- one submission through the grade command ----------------------------------------------------------------------

def grade(*args: str, cwd=KIT):
    proc = run("-m", "grader", *args, cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The hostile submission graded once to ``grade.json``, in a folder laid out as the student repository's
    workflow has it, and every rendering the workflow makes from it."""
    root = tmp_path_factory.mktemp("repo")
    submissions.make(root / release.SUBMISSION, bodies=RAISES)
    grade(release.SUBMISSION, "--only", "softmax", "--format", "json", "--output", release.REPORT_JSON, "--quiet",
          cwd=root)
    for args in release.workflow_commands()[1:]:
        grade(*args, cwd=root)
    return root


@pytest.mark.end_to_end
def test_the_report_quotes_the_exception(graded):
    report = json.loads((graded / release.REPORT_JSON).read_text())
    assert any(HOSTILE in c["message"] for c in report["checks"])  # the JSON keeps it as it was


@pytest.mark.end_to_end
def test_text_report_is_inert(graded):
    rendered = grade("render", str(graded / release.REPORT_JSON), "--format", "text").stdout
    assert_inert_text(rendered, "Score: 0/17")
    assert "[2J[H Score: 100/100 <img src=x onerror=alert(1)> **Grade: 100 / 100** | col |" in rendered
    direct = grade(str(graded / release.SUBMISSION), "--only", "softmax", "--quiet").stdout
    assert_inert_text(direct, "Score: 0/17")


@pytest.mark.end_to_end
def test_markdown_reports_are_inert(graded):
    """The workflow's grade.md, which it appends to the job summary and posts as the pull request's comment (with
    the marker and the run's link around it, as its script does)."""
    report = (graded / release.RENDERED["markdown"]).read_text()
    assert report.startswith("## Grade: 0 / 17\n")
    assert_inert_markdown(report)
    comment = f"{release.COMMENT_MARKER}\n{report}\n[Run and reports](https://example.invalid/run)\n"
    assert_inert_markdown(comment)
    # what a reader sees in the feedback cell is the message, its escape sequences gone
    assert inert.markdown(HOSTILE) in report and _unescape_markdown(inert.markdown(HOSTILE)) == inert.text(HOSTILE)


@pytest.mark.end_to_end
def test_gradescope_results_are_inert(graded):
    results = json.loads((graded / release.RENDERED["gradescope"]).read_text())
    assert results["output_format"] == "md" and results["test_output_format"] == "text"
    assert_inert_markdown(results["output"], strong=1)  # the kit's bold score
    failed = [t for t in results["tests"] if t["status"] == "failed"]
    assert failed and all(t["output_format"] == "text" and not CONTROL.search(t["output"]) for t in failed)


@pytest.mark.end_to_end
def test_pytest_front_end_is_inert(graded, tmp_path):
    student = shutil.copytree(graded / release.SUBMISSION, tmp_path / "student")  # not a second exercises/ package
    proc = run("-m", "pytest", "exercises/", "--dl-submission", str(student), "--dl-only", "softmax", "-q")
    assert "softmax.values" in proc.stdout and "Score: 100/100 <img" in proc.stdout
    assert "\x1b" not in proc.stdout and not CONTROL.search(proc.stdout)


# --- a class through grade batch ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    classroom = tmp_path_factory.mktemp("class")
    submissions.make(classroom / "mallory", bodies=RAISES)
    for name in (FORMULA, HTML_NAME, "bob"):  # three students sharing a wrong softmax: listed by name
        submissions.make(classroom / name, bodies=WRONG)
    proc = run("-m", "grader", "batch", str(classroom), "--only", "softmax", "--jobs", "2", "--quiet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return grades_of(classroom)


@pytest.mark.end_to_end
def test_gradebook_cells_never_start_a_formula(graded_class):
    with open(graded_class / "gradebook.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert {r[0] for r in rows[1:]} == {"bob", "mallory", "'" + FORMULA, HTML_NAME}
    assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for cell in row)


@pytest.mark.end_to_end
def test_batch_markdown_is_inert(graded_class):
    reports = sorted(graded_class.glob("*.md"))
    assert len(reports) == 5  # four students and the class summary
    for path in reports:
        assert_inert_markdown(path.read_text())
    summary = (graded_class / "class_summary.md").read_text()
    assert inert.markdown(FORMULA) in summary and inert.markdown(HTML_NAME) in summary  # the shared wrong answer
    assert inert.markdown(HOSTILE) in summary

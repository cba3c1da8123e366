"""The class view and dashboard through the real `grade batch --secret-file`, and the dashboard as a person sees it
in headless Chromium: a class of five (the solutions, two stubs, a forbidden call, a real bug), one of them with
a hostile folder name and an exception message holding HTML."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
from html.parser import HTMLParser
from pathlib import Path

import pytest

from grader.checks import softmax as softmax_checks
from grader.reports import inert
from grader.reports.result import fmt_points

from . import submissions
from .conftest import KIT, run

HOSTILE = "<img src=x onerror=alert(1)>"
HOSTILE_HINT = "<img src=y onerror=alert(2)> write it"
OVERFLOW = next(m.cause for m in softmax_checks.MISTAKES if m.evidence == ("stability_large_logits",)
                and "overflows" in m.cause).split(": ")[0]
STUDENTS = ("alice", HOSTILE, "bob", "dave", "erin")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """alice: the solutions; HOSTILE and bob: the stubs (bob the released exercises'; HOSTILE's hint holds HTML);
    dave: softmax by jax.nn.softmax; erin: softmax without the max shift. Graded with a secret, softmax and
    data_iter only (their hidden checks too)."""
    root = tmp_path_factory.mktemp("dashboard")
    secret = root / "instructor" / "secret"
    secret.parent.mkdir()
    secret.write_text("dashboard-" + "7e57ab1e" * 6 + "\n")
    folder = root / "class"
    stub = f"raise NotImplementedError({HOSTILE_HINT!r})"
    submissions.make(folder / "alice")
    submissions.make(folder / HOSTILE, bodies={"softmax": stub, "data_iter": stub})
    submissions.make(folder / "bob", source=KIT / "exercises")
    submissions.make(folder / "dave", bodies={"softmax": "return jax.nn.softmax(X, axis=-1)"})
    submissions.make(folder / "erin", bodies={"softmax": "e = jnp.exp(X)\nreturn e / e.sum(axis=-1, keepdims=True)"})
    out = root / "out"
    proc = run("-m", "grader", "batch", str(folder), "--secret-file", str(secret), "--only", "softmax,data_iter",
               "--jobs", "2", "--quiet", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    reports = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}
    return out, reports


def _report(reports: dict, student: str) -> dict:
    from grader.batch import report_stem
    return reports[report_stem(student)]


@pytest.mark.end_to_end
def test_the_class_view_keeps_stubs_forbidden_calls_and_bugs_apart(graded):
    out, reports = graded
    top = _report(reports, "alice")["max_score"]
    assert top == _report(reports, "alice")["score"] != 100  # the solutions' full marks, hidden checks included
    assert {c["id"] for c in _report(reports, "alice")["checks"] if c.get("hidden")} == {"softmax.hidden",
                                                                                         "data_iter.hidden"}
    stub_check = next(c for c in _report(reports, "bob")["checks"] if c["id"] == "softmax.values")
    assert stub_check["kind"] == "stub" and "cause" not in stub_check
    erin = {c["id"]: c for c in _report(reports, "erin")["checks"]}
    assert erin["softmax.stability.large_logits"]["cause"] == OVERFLOW
    assert erin["softmax.hidden"]["kind"] == "wrong" and erin["softmax.values"].keys() == {
        "id", "target", "points", "max_points", "passed", "message"}  # a passed check: the JSON as it was
    text = (out / "class_summary.md").read_text()
    assert f"| score (of {fmt_points(top)}) | students |" in text
    assert "- `softmax`: not attempted: &lt;img src\\=x onerror\\=alert\\(1\\)&gt;, bob; forbidden call: dave; " \
        "wrong: erin" in text
    assert "- `data_iter`: not attempted: &lt;img src\\=x onerror\\=alert\\(1\\)&gt;, bob" in text
    reteach = text.split("## What to reteach")[1].split("\n## ")[0]
    assert reteach.splitlines()[4].startswith(f"1. {inert.markdown(OVERFLOW)} — 1 of 5: erin")
    assert "bob" not in reteach and "dave" not in reteach  # stubs and forbidden calls are not misconceptions
    hidden = text.split("## Hidden checks")[1].split("\n## ")[0]
    assert "- `softmax.hidden`: 1 of 5; public checks fail too (fix those first): erin" in hidden
    assert "bob" not in hidden and "dave" not in hidden
    # the two stubs' data_iter records that it is no generator function, the same for both: not a shared answer
    assert text.split("## Identical wrong answers (for review; no points are taken)")[1].strip() == \
        "No two students share a wrong output."


# --- the page in a browser ---------------------------------------------------------------------------------------

class Node:
    def __init__(self, tag: str, attrs: dict, parent: Node | None):
        self.tag, self.attrs, self.parent, self.children, self.parts = tag, attrs, parent, [], []

    @property
    def text(self) -> str:
        return "".join(p if isinstance(p, str) else p.text for p in self.parts)

    def walk(self):
        yield self
        for child in self.children:
            yield from child.walk()

    def find_all(self, tag: str | None = None, **attrs):
        return [n for n in self.walk() if (tag is None or n.tag == tag)
                and all(n.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())]


class DomReader(HTMLParser):
    """The rendered DOM Chromium dumps, as a tree of :class:`Node` (void elements closed at once)."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self, markup: str):
        super().__init__(convert_charrefs=True)
        self.root = self.at = Node("#document", {}, None)
        self.feed(markup)

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs), self.at)
        self.at.children.append(node)
        self.at.parts.append(node)
        if tag not in self.VOID:
            self.at = node

    def handle_endtag(self, tag):
        at = self.at
        while at is not None and at.tag != tag:
            at = at.parent
        if at is not None and at.parent is not None:
            self.at = at.parent

    def handle_data(self, data):
        self.at.parts.append(data)


def _chromium() -> str:
    exe = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    if exe is None:
        pytest.skip("chromium is not installed (apt-get install chromium): the dashboard is not loaded in a browser")
    return exe


def _browse(page: Path, profile: Path, *flags: str) -> subprocess.CompletedProcess:
    """Headless Chromium on ``page`` (a file), with a profile of its own and no network."""
    command = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--no-first-run", "--hide-scrollbars", f"--user-data-dir={profile}", "--virtual-time-budget=3000",
               "--proxy-server=127.0.0.1:9", *flags, page.as_uri()]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)


@pytest.mark.end_to_end
def test_the_dashboard_in_a_browser(graded, tmp_path):
    out, reports = graded
    page = out / "class_summary.html"
    source = page.read_text()
    assert "http://" not in source.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in source
    dumped = _browse(page, tmp_path / "profile", "--dump-dom")
    assert dumped.returncode == 0 and "<body" in dumped.stdout, dumped.stderr[-2000:]
    dom = DomReader(dumped.stdout).root
    assert not dom.find_all("img") and len(dom.find_all("script")) == 1  # no element made of a student's text

    top = _report(reports, "alice")["max_score"]
    [svg] = dom.find_all("svg", id="histogram")
    assert svg.attrs["data-max"] == fmt_points(top)
    assert [t.text for t in svg.find_all("text") if "xmax" in t.attrs.get("class", "")] == [fmt_points(top)]
    assert f"score (points of {fmt_points(top)})" in svg.text

    for student in STUDENTS:
        [row] = dom.find_all("tr", data_student=student)
        cells = row.find_all("td")
        report = _report(reports, student)
        assert cells[0].text == student  # the hostile id shown as the text it is
        assert cells[1].text == f"{fmt_points(report['score'])} / {fmt_points(top)}"
    hostile_row = dom.find_all("tr", data_report_of=HOSTILE)[0]
    assert HOSTILE_HINT in hostile_row.text  # the exception's HTML, as text, in the report opened in place
    links = [urllib.parse.unquote(a.attrs["href"]) for a in hostile_row.find_all("a")]
    assert [Path(h).suffix for h in links] == [".md", ".json"] and all((out / h).is_file() for h in links)

    [reteach] = dom.find_all("ol", id="reteach")
    first = reteach.find_all("li")[0]
    assert first.find_all("span", **{"class": "diagnosis"})[0].text == OVERFLOW and "1 of 5: erin" in first.text
    [functions] = dom.find_all("table", id="function-statuses")
    softmax_row = functions.find_all("tr", data_function="softmax")[0]
    counts = {td.attrs["data-status"]: td.find_all("summary")[0].text if td.find_all("summary") else td.text
              for td in softmax_row.find_all("td") if "data-status" in td.attrs}
    assert counts == {"correct": "1", "not attempted": "2", "forbidden call": "1", "crashed": "0", "wrong": "1"}
    assert "does not keep the training runs' per-epoch curves" in dom.text

    shot = tmp_path / "dashboard.png"
    taken = _browse(page, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1280,2000")
    assert taken.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", taken.stderr[-2000:]
    assert shot.stat().st_size > 20_000
    print(f"the dashboard's screenshot: {shot}")


def test_the_page_escapes_student_text_and_shows_a_regrade():
    """Without a browser: an exception message with HTML and a hostile id are text in the page, and an earlier
    grading adds the regrade's moves."""
    from grader.reports import dashboard
    from grader.reports.result import CheckResult, Result

    message = "softmax of an (8, 5) array raised ValueError: </td><script>alert(3)</script>"
    old = {HOSTILE: Result((CheckResult("softmax.values", "softmax", 0.0, 4.0, False, message, kind="crash"),))}
    new = {HOSTILE: Result((CheckResult("softmax.values", "softmax", 4.0, 4.0, True, "ok"),))}
    page = dashboard.html(old, None, {HOSTILE: "hostile"})
    assert "<script>alert" not in page and "&lt;/td&gt;&lt;script&gt;alert(3)&lt;/script&gt;" in page
    dom = DomReader(page).root
    tags = [n.tag for n in dom.walk()]
    assert "img" not in tags and tags.count("script") == 1
    [row] = dom.find_all("tr", data_student=HOSTILE)
    assert row.find_all("td")[0].text == HOSTILE and message in dom.find_all("tr", data_report_of=HOSTILE)[0].text
    regraded = dashboard.html(new, None, None, previous=old)
    assert 'id="regrade"' in regraded and "1 of 1 students change" in regraded
    [move] = DomReader(regraded).root.find_all("table", id="regrade-moves")[0].find_all("tbody")[0].find_all("tr")
    assert [td.text for td in move.find_all("td")][:5] == [f"{HOSTILE} (+4)", "softmax.values", "0", "4", "+4"]

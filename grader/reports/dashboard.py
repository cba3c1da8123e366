"""The class dashboard: ``class_summary.html``, one self-contained page an instructor opens offline.

Everything :mod:`grader.reports.class_view` finds, in a browser: the score histogram (inline SVG, its axis from 0
to the real maximum), what to reteach, the hidden checks, what each student did with each function, the identical
wrong answers, a row per student (score, points per function and training, and the report's failed checks and
messages in a ``<details>`` that opens in place, with links to the ``.md`` and ``.json`` reports beside the page),
and the regrade's moves when an earlier grading is given. No external URL, no script needed to read it (a few
inline lines sort the students' table by a column when its heading is clicked).

All student text (ids, messages quoting the student's exceptions or outputs) is written through :func:`_t`: control
characters removed (:func:`grader.reports.inert.text`), then HTML-escaped, so it shows as the characters it is.
"""

from __future__ import annotations

import dataclasses
import html as _html
import urllib.parse

from grader import rubric
from grader.reports import class_view, inert, regrade
from grader.reports.result import Result, fmt_points

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto; max-width: 1200px;
       color: #222; padding: 0 16px; }
h1 { margin-bottom: 4px; } h2 { margin-top: 32px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.muted { color: #666; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } th.sortable { cursor: pointer; } td.num, th.num { text-align: right; white-space: nowrap; }
.wide { overflow-x: auto; } #student-rows th.num { white-space: normal; }
tr.report td { border-top: none; padding: 0 8px 6px 24px; font-size: 13px; }
td.full { background: #e8f4ea; } td.zero { background: #fbe9e9; }
ol.reteach li { margin-bottom: 6px; } .diagnosis { font-weight: 600; }
.remedy { color: #345; } code { background: #f4f4f4; padding: 0 3px; border-radius: 3px; }
details summary { cursor: pointer; } details table { font-size: 13px; }
.kind { font-size: 12px; padding: 1px 6px; border-radius: 8px; color: #fff; white-space: nowrap; }
.stub { background: #999; } .forbidden { background: #8172b2; } .crash { background: #dd8452; }
.wrong { background: #c44e52; }
.message { white-space: pre-wrap; word-break: break-word; max-width: 760px; }
.legend span { display: inline-block; margin-right: 12px; }
.swatch { display: inline-block; width: 10px; height: 10px; margin-right: 4px; }
"""

# Sorts the students' table by the column whose heading is clicked (numbers by value); the page reads the same
# without it.
SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th.sortable").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var body = table.tBodies[0];
      var rows = Array.prototype.filter.call(body.rows, function (r) { return r.hasAttribute("data-student"); });
      var down = th.getAttribute("data-order") !== "desc";
      rows.sort(function (a, b) {
        var x = a.cells[col].getAttribute("data-sort"), y = b.cells[col].getAttribute("data-sort");
        var nx = parseFloat(x), ny = parseFloat(y);
        var c = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
        return down ? -c : c;
      });
      th.setAttribute("data-order", down ? "desc" : "asc");
      rows.forEach(function (r) {
        var report = r.nextElementSibling;
        body.appendChild(r);
        if (report && report.classList.contains("report")) { body.appendChild(report); }
      });
    });
  });
});
"""

KIND_LABELS = {"stub": "not attempted", "forbidden": "forbidden call", "crash": "crashed", "wrong": "wrong"}


def _t(s: object) -> str:
    """Student (or any) text as HTML text or an attribute value: control characters removed, then escaped."""
    return _html.escape(inert.text(str(s)), quote=True)


def _names(students) -> str:
    return ", ".join(_t(s) for s in students) or "—"


def histogram_svg(results: dict[str, Result], width: int = 560, height: int = 250) -> str:
    """The score histogram as inline SVG: bins of :func:`class_view.bin_edges` on an axis from 0 to the real
    maximum, each edge labelled, the count above each bar."""
    top = class_view.top_score(results)
    edges = class_view.bin_edges(top)
    counts = class_view.score_histogram([r.score for r in results.values()], top)
    left, right, upper, lower = 44, 16, 16, 48
    plot_w, plot_h = width - left - right, height - upper - lower
    most = max(counts, default=0) or 1

    def x(v: float) -> float:
        return left + plot_w * v / top

    def y(v: float) -> float:
        return upper + plot_h * (1 - v / most)

    parts = [f'<svg id="histogram" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" data-max="{fmt_points(top)}" '
             f'aria-label="score histogram, 0 to {fmt_points(top)} points">']
    for lo, hi, count in zip(edges, edges[1:], counts):
        if count:
            parts.append(f'<rect x="{x(lo) + 1:.1f}" y="{y(count):.1f}" width="{x(hi) - x(lo) - 2:.1f}" '
                         f'height="{upper + plot_h - y(count):.1f}" fill="#4c72b0">'
                         f'<title>{class_view.bin_label(lo, hi)}: {count}</title></rect>')
            parts.append(f'<text x="{(x(lo) + x(hi)) / 2:.1f}" y="{y(count) - 3:.1f}" font-size="11" '
                         f'text-anchor="middle">{count}</text>')
    base = upper + plot_h
    parts.append(f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" stroke="#333"/>')
    parts.append(f'<line x1="{left}" y1="{upper}" x2="{left}" y2="{base}" stroke="#333"/>')
    for i, edge in enumerate(edges):
        last = i == len(edges) - 1
        parts.append(f'<text class="xtick{" xmax" if last else ""}" x="{x(edge):.1f}" y="{base + 15}" font-size="11" '
                     f'text-anchor="middle">{fmt_points(edge)}</text>')
    step = max(1, -(-most // 5))
    for v in range(0, most + 1, step):
        parts.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" font-size="11" text-anchor="end">{v}</text>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 8}" font-size="12" text-anchor="middle">'
                 f'score (points of {fmt_points(top)})</text>')
    parts.append(f'<text x="12" y="{upper + plot_h / 2:.1f}" font-size="12" text-anchor="middle" '
                 f'transform="rotate(-90 12 {upper + plot_h / 2:.1f})">students</text>')
    return "".join(parts) + "</svg>"


def _reteach(results: dict[str, Result]) -> list[str]:
    n = len(results)
    out = ['<h2 id="what-to-reteach">What to reteach</h2>',
           '<p class="muted">The causes the judges named in wrong answers and crashes, the most students first; a '
           'student counts once per cause, whichever checks show it. Stubs and forbidden calls are not counted here '
           '(see <a href="#functions">each function</a>).</p>']
    named = class_view.reteach(results)
    if named:
        out.append('<ol class="reteach" id="reteach">')
        for c in named:
            checks = ", ".join(f"<code>{_t(cid)}</code>" for cid in c.checks)
            remedy = f'<br><span class="remedy">Remedy: {_t(c.remedy)}</span>' if c.remedy else ""
            out.append(f'<li><span class="diagnosis">{_t(c.diagnosis)}</span> — <strong>{len(c.students)} of {n}'
                       f'</strong>: {_names(c.students)} ({checks}){remedy}</li>')
        out.append("</ol>")
    else:
        out.append('<p id="reteach">No known cause was named.</p>')
    rows = class_view.unnamed(results)
    if rows:
        out += ["<h3>Wrong answers and crashes with no named cause</h3>",
                '<table id="unnamed"><thead><tr><th>check</th><th class="num">students</th><th>who</th>'
                "<th>most common messages</th></tr></thead><tbody>"]
        for cid, who, messages in rows:
            said = "".join(f'<li>{k}× <span class="message">{_t(m)}</span></li>' for m, k in messages[:3])
            out.append(f"<tr><td><code>{_t(cid)}</code></td><td class=\"num\">{len(who)} of {n}</td>"
                       f"<td>{_names(who)}</td><td><ul>{said}</ul></td></tr>")
        out.append("</tbody></table>")
    return out


def _hidden(results: dict[str, Result]) -> list[str]:
    rows = class_view.hidden_failures(results)
    if not rows and not any(c.hidden for r in results.values() for c in r.checks):
        return []
    n = len(results)
    out = ['<h2 id="hidden">Hidden checks</h2>',
           "<p class=\"muted\">On inputs drawn from the instructor's secret (stubs and forbidden calls left out).</p>"]
    if not rows:
        return out + ["<p>Every attempted function passes its hidden checks.</p>"]
    out.append('<table id="hidden-checks"><thead><tr><th>check</th><th class="num">students</th>'
               f"<th>public checks pass: {_t(class_view.causes.hidden.DEPENDS)}</th>"
               "<th>public checks fail too (fix those first)</th></tr></thead><tbody>")
    for cid, depends, too in rows:
        out.append(f'<tr><td><code>{_t(cid)}</code></td><td class="num">{len(depends) + len(too)} of {n}</td>'
                   f"<td>{_names(depends)}</td><td>{_names(too)}</td></tr>")
    return out + ["</tbody></table>"]


def _functions(results: dict[str, Result]) -> list[str]:
    table = class_view.statuses(results)
    legend = "".join(f'<span><i class="swatch" style="background:{class_view.COLORS[k]}"></i>{k}</span>'
                     for k in class_view.STATUSES)
    out = ['<h2 id="functions">Each function</h2>',
           '<p class="muted">Not attempted: the exercise\'s stub (it raises NotImplementedError). Forbidden call: a '
           "library call that solves the exercise outright. Crashed: the code raised an error, did not load or ran "
           "out of time. Wrong: attempted, with a wrong answer on some check.</p>",
           f'<p class="legend">{legend}</p>',
           '<table id="function-statuses"><thead><tr><th>function</th>'
           + "".join(f'<th class="num">{k}</th>' for k in class_view.STATUSES)
           + "<th>the class</th></tr></thead><tbody>"]
    for function, by in table.items():
        cells = []
        for k in class_view.STATUSES:
            who = by[k]
            inner = (f"<details><summary>{len(who)}</summary>{_names(who)}</details>" if who and k != "correct"
                     else str(len(who)))
            cells.append(f'<td class="num" data-status="{_t(k)}">{inner}</td>')
        cells.append(f"<td>{_status_bar(by)}</td>")
        out.append(f'<tr data-function="{_t(function)}"><td><code>{_t(function)}</code></td>{"".join(cells)}</tr>')
    return out + ["</tbody></table>"]


def _status_bar(by: dict[str, list[str]], width: int = 220, height: int = 14) -> str:
    """One function's statuses as a stacked bar (inline SVG), in :data:`class_view.STATUSES`' order and colours."""
    total = sum(len(v) for v in by.values()) or 1
    x, rects = 0.0, []
    for k in class_view.STATUSES:
        w = width * len(by[k]) / total
        if w:
            rects.append(f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="{height}" fill="{class_view.COLORS[k]}">'
                         f"<title>{k}: {len(by[k])}</title></rect>")
        x += w
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} '
            f'{height}" role="img" aria-label="statuses">{"".join(rects)}</svg>')


def _shared(fingerprints: dict[str, dict[str, str]] | None) -> list[str]:
    if fingerprints is None:
        return []
    out = ['<h2 id="identical">Identical wrong answers <span class="muted">(for review; no points are taken)</span>'
           "</h2>"]
    groups = class_view.shared_wrong_answers(fingerprints)
    if not groups:
        return out + ["<p>No two students share a wrong output.</p>"]
    out.append("<ul>")
    out += [f"<li><code>{_t(function)}</code>: {_names(names)} — the same wrong outputs on every probe input "
            "(shared code, or a mistake common enough to reteach)</li>" for function, names in groups]
    return out + ["</ul>"]


def _report_details(student: str, result: Result, stem: str | None) -> str:
    failed = [c for c in result.checks if not c.passed]
    links = ""
    if stem is not None:
        links = " ".join(f'<a href="{_t(urllib.parse.quote(stem + suffix))}">{suffix[1:]} report</a>'
                         for suffix in (".md", ".json"))
        links = f"<p>{links}</p>"
    if not failed:
        body = "<p>Every check passes.</p>"
    else:
        rows = "".join(
            f'<tr><td><code>{_t(c.id)}</code>{" (hidden)" if c.hidden else ""}</td>'
            f'<td class="num">{fmt_points(c.points)} / {fmt_points(c.max_points)}</td>'
            f'<td><span class="kind {_t(class_view.kind_of(c))}">{_t(KIND_LABELS.get(class_view.kind_of(c), ""))}'
            f'</span></td><td class="message">{_t(c.message)}</td></tr>' for c in failed)
        body = ("<table><thead><tr><th>check</th><th>points</th><th>why</th><th>feedback</th></tr></thead>"
                f"<tbody>{rows}</tbody></table>")
    trainings = [c for c in result.checks if c.target not in rubric.STUDENT_FUNCTIONS and c.passed]
    if trainings:
        body += "<p class=\"muted\">Trainings passed: " + ", ".join(f"<code>{_t(c.id)}</code>" for c in trainings) \
            + "</p>"
    if result.review:
        body += "<p>For review (no points taken):</p><ul>" + "".join(f"<li>{_t(n)}</li>" for n in result.review) \
            + "</ul>"
    lost = sum(c.max_points - c.points for c in failed)
    summary = (f"{len(failed)} failed check{'s' if len(failed) != 1 else ''}, {fmt_points(round(lost, 4))} points "
               "lost" if failed else "every check passes")
    return f"<details><summary>{_t(student)}'s report: {summary}</summary>{links}{body}</details>"


def _students(results: dict[str, Result], stems: dict[str, str] | None) -> list[str]:
    targets = [t for t in rubric.TARGETS if any(t in r.by_target() for r in results.values())]
    heads = "".join(f'<th class="sortable num">{_t(t).replace("_", "_<wbr>")}</th>' for t in targets)
    out = ['<h2 id="students">Students</h2>',
           '<p class="muted">Click a heading to sort. Each row opens the student\'s failed checks and messages'
           + (", with links to the reports beside this page" if stems else "") + ".</p>",
           '<div class="wide"><table id="student-rows" class="sortable"><thead><tr><th class="sortable">student</th>'
           f'<th class="sortable num">score</th>{heads}</tr></thead><tbody>']
    for student, result in sorted(results.items()):
        parts = result.by_target()
        cells = []
        for t in targets:
            if t not in parts:
                cells.append('<td class="num" data-sort="-1">—</td>')
                continue
            pts, mx = parts[t]
            cls = "full" if pts >= mx else "zero" if pts == 0 else ""
            cells.append(f'<td class="num {cls}" data-sort="{pts:g}">{fmt_points(pts)} / {fmt_points(mx)}</td>')
        stem = stems.get(student) if stems else None
        out.append(f'<tr data-student="{_t(student)}"><td class="student" data-sort="{_t(student)}">{_t(student)}</td>'
                   f'<td class="num score" data-sort="{result.score:g}">{fmt_points(result.score)} / '
                   f'{fmt_points(result.max_score)}</td>{"".join(cells)}</tr>')
        out.append(f'<tr class="report" data-report-of="{_t(student)}"><td colspan="{len(targets) + 2}">'
                   f"{_report_details(student, result, stem)}</td></tr>")
    out.append("</tbody></table></div>")
    out += ['<h3 id="curves">Training curves</h3>',
            "<p>A batch does not keep the training runs' per-epoch curves: this page is drawn from the reports, so "
            "it shows each training's points above and its check's message (the final loss or accuracy against "
            "the pass line) in the student's row. One student's curves beside the reference's: "
            "<code>grade FOLDER --report-dir DIR</code>.</p>"]
    return out


def _regrade(results: dict[str, Result], previous: dict[str, Result] | None) -> list[str]:
    if previous is None:
        return []
    found = regrade.moves(previous, results)
    if len(previous) == len(results) == 1:  # moves() names a lone student "student"; here it is this class's
        found = [dataclasses.replace(m, student=next(iter(results))) for m in found]
    moved = sorted({m.student for m in found})
    both = sorted(set(previous) & set(results))
    out = ['<h2 id="regrade">Regrade</h2>',
           f"<p>{len(moved)} of {len(both)} students change against the earlier grading.</p>"]
    if found:
        totals = {s: round(sum(m.change for m in found if m.student == s), 4) for s in moved}
        out.append('<table id="regrade-moves"><thead><tr><th>student</th><th>check</th><th class="num">old</th>'
                   '<th class="num">new</th><th class="num">change</th><th>old message</th><th>new message</th>'
                   "</tr></thead><tbody>")
        for m in found:
            out.append(f"<tr><td>{_t(m.student)} ({totals[m.student]:+g})</td><td><code>{_t(m.check)}</code></td>"
                       f'<td class="num">{"—" if m.old_points is None else fmt_points(m.old_points)}</td>'
                       f'<td class="num">{"—" if m.new_points is None else fmt_points(m.new_points)}</td>'
                       f'<td class="num">{m.change:+g}</td><td class="message">{_t(m.old_message)}</td>'
                       f'<td class="message">{_t(m.new_message)}</td></tr>')
        out.append("</tbody></table>")
    else:
        out.append("<p>No check moved.</p>")
    only_old, only_new = sorted(set(previous) - set(results)), sorted(set(results) - set(previous))
    if only_old:
        out.append(f"<p>Only in the earlier grading: {_names(only_old)}</p>")
    if only_new:
        out.append(f"<p>Only in this grading: {_names(only_new)}</p>")
    return out


def html(results: dict[str, Result], fingerprints: dict[str, dict[str, str]] | None = None,
         stems: dict[str, str] | None = None, previous: dict[str, Result] | None = None) -> str:
    """The dashboard page. ``stems`` (student id → report file name without suffix) links each student's reports;
    ``previous`` (an earlier grading, by student id) adds the regrade's moves."""
    scores = [r.score for r in results.values()]
    n, top = len(scores), class_view.top_score(results)
    mean = sum(scores) / max(n, 1)
    body = ["<h1>Class summary</h1>",
            f'<p id="overview">{n} submissions; mean score {mean:.1f} of {fmt_points(top)}.</p>',
            '<p class="muted"><a href="#what-to-reteach">What to reteach</a> · <a href="#functions">Each function</a>'
            ' · <a href="#students">Students</a></p>',
            '<h2 id="scores">Scores</h2>', histogram_svg(results),
            *_reteach(results), *_hidden(results), *_functions(results), *_shared(fingerprints),
            *_students(results, stems), *_regrade(results, previous)]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>Class summary</title><style>{CSS}</style></head><body>\n" + "\n".join(body)
            + f"\n<script>{SCRIPT}</script>\n</body></html>\n")

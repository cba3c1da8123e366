"""The instructor's view of a class: what to reteach, and wrong answers students share.

From the results of ``grade batch``, per student function, the students who did not attempt it (the exercise's
stub), who made a forbidden shortcut call, whose code crashed and who attempted it and got it wrong, kept apart;
what to reteach: the causes the judges named (:mod:`grader.checks.causes`), each student counted once per cause,
then the wrong answers no known cause explains, by check; the hidden checks in a section of their own; and a score
histogram on the real maximum. Written as Markdown (``class_summary.md``, student text inert:
:mod:`grader.reports.inert`), a PNG (``class_summary.png``) and an offline HTML dashboard (``class_summary.html``:
:mod:`grader.reports.dashboard`). The Markdown also lists groups of students whose function gave *identical wrong
outputs* on every probe input: a stronger sign of shared code than similar source, and common mistakes show up
the same way, so it is for an instructor's review, never a penalty by itself.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections import Counter
from typing import TYPE_CHECKING

import numpy as np

from grader import rubric
from grader.checks import causes
from grader.checks.common import Observations
from grader.engine.student_errors import is_stub_failure
from grader.reports import inert
from grader.reports.result import CheckResult, Result, fmt_points

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# What a student did with a function, in the order the class view shows them.
STATUSES = ("correct", "not attempted", "forbidden call", "crashed", "wrong")
COLORS = {"correct": "#55a868", "not attempted": "#bbbbbb", "forbidden call": "#8172b2", "crashed": "#dd8452",
          "wrong": "#c44e52"}
_FORBIDDEN_TAILS = ("(none of its checks score while it does)",)


def kind_of(c: CheckResult) -> str:
    """Why ``c`` failed (:data:`~grader.reports.result.KINDS`), ``""`` when it passed. A report written before
    checks carried their kind has it read from the message."""
    if c.passed:
        return ""
    if c.kind:
        return c.kind
    if c.message.endswith(_FORBIDDEN_TAILS):
        return "forbidden"
    if is_stub_failure(c.message):
        return "stub"
    return "crash" if " raised " in c.message else "wrong"


def cause_of(c: CheckResult) -> str:
    """The diagnosis ``c``'s message names, if it failed for a reason of the student's code."""
    if kind_of(c) not in ("wrong", "crash"):
        return ""
    return c.cause or causes.named(c.target, c.message, c.hidden)


def status(result: Result, function: str) -> str | None:
    """What the student did with ``function`` (one of :data:`STATUSES`), ``None`` when it was not graded. Read
    from its public checks, or when they all pass from its hidden ones (whose failure, beside a public one's, has
    the same cause). Not attempted: every check of it failed on the exercise's stub."""
    own = [c for c in result.checks if c.target == function]
    if not own:
        return None
    failed = [c for c in own if not c.passed and not c.hidden] or [c for c in own if not c.passed]
    kinds = {kind_of(c) for c in failed}
    if not kinds:
        return "correct"
    if "forbidden" in kinds:
        return "forbidden call"
    if kinds == {"stub"} and all(not c.passed for c in own if not c.hidden):
        return "not attempted"
    return "wrong" if "wrong" in kinds else "crashed"


def statuses(results: dict[str, Result]) -> dict[str, dict[str, list[str]]]:
    """Per graded student function, in rubric order: each status with its students (by name)."""
    out: dict[str, dict[str, list[str]]] = {}
    for function in rubric.STUDENT_FUNCTIONS:
        rows = {s: status(r, function) for s, r in sorted(results.items())}
        if any(v is not None for v in rows.values()):
            out[function] = {k: [s for s, v in rows.items() if v == k] for k in STATUSES}
    return out


@dataclasses.dataclass(frozen=True)
class Cause:
    """A cause to reteach: its diagnosis and remedy, the students it was named for, the functions and checks."""

    diagnosis: str
    remedy: str
    students: tuple[str, ...]
    functions: tuple[str, ...]
    checks: tuple[str, ...]


def _order(check_id: str) -> int:
    return next((i for i, c in enumerate(rubric.CHECKS) if c.id == check_id), len(rubric.CHECKS))


def reteach(results: dict[str, Result]) -> list[Cause]:
    """The causes named in the public checks' failures (wrong answers and crashes, never a stub's or a forbidden
    call's), the most students first; a student is counted once per cause, whichever checks show it."""
    found: dict[str, tuple[set, dict, set]] = {}
    for student, result in results.items():
        for c in result.checks:
            cause = "" if c.hidden else cause_of(c)
            if cause:
                who, functions, checks = found.setdefault(cause, (set(), {}, set()))
                who.add(student)
                functions.setdefault(c.target, None)
                checks.add(c.id)
    rows = [Cause(d, next((r for f in fs if (r := causes.remedy(f, d))), ""), tuple(sorted(who)), tuple(fs),
                  tuple(sorted(checks, key=_order)))
            for d, (who, fs, checks) in found.items()]
    return sorted(rows, key=lambda c: (-len(c.students), min(map(_order, c.checks)), c.diagnosis))


def _graded_parts_hold(result: Result, target: str) -> bool:
    """A training whose student functions all pass their checks (its failure is the training's own)."""
    probe = rubric.PROBES.get(target)
    return probe is not None and all(status(result, f) in ("correct", None) for f in probe.uses)


def unnamed(results: dict[str, Result]) -> list[tuple[str, list[str], list[tuple[str, int]]]]:
    """Public checks failed by a wrong answer whose message names no known cause: (check id, students,
    [(message, count), …] by count), the most students first. A training counts only when the functions it
    trains with pass (else the failure is theirs). A crash with no named cause is its function's "crashed"."""
    found: dict[str, tuple[list[str], Counter]] = {}
    for student, result in sorted(results.items()):
        for c in result.checks:
            if c.hidden or kind_of(c) != "wrong" or cause_of(c):
                continue
            if c.target not in rubric.STUDENT_FUNCTIONS and not _graded_parts_hold(result, c.target):
                continue
            who, messages = found.setdefault(c.id, ([], Counter()))
            who.append(student)
            messages[c.message] += 1
    rows = [(cid, who, messages.most_common()) for cid, (who, messages) in found.items()]
    return sorted(rows, key=lambda r: (-len(r[1]), _order(r[0])))


def hidden_failures(results: dict[str, Result]) -> list[tuple[str, list[str], list[str]]]:
    """Per hidden check failed by an attempted function (not a stub, not a forbidden call): (check id, students
    whose public checks all pass — the code depends on the public inputs —, students who fail public checks too)."""
    found: dict[str, tuple[list[str], list[str]]] = {}
    for student, result in sorted(results.items()):
        for c in result.checks:
            if c.hidden and kind_of(c) in ("wrong", "crash") and status(result, c.target) in ("wrong", "crashed"):
                depends, too = found.setdefault(c.id, ([], []))
                (depends if cause_of(c) == causes.hidden.DEPENDS else too).append(student)
    return sorted(((cid, d, t) for cid, (d, t) in found.items()), key=lambda r: (-len(r[1]) - len(r[2]), r[0]))


def failures(results: dict[str, Result]) -> list[tuple[str, int, list[tuple[str, int]]]]:
    """Per failed check, most failed first: (check id, students failing, [(message, count), …] by count)."""
    messages: dict[str, Counter] = {}
    for result in results.values():
        for c in result.checks:
            if not c.passed:
                messages.setdefault(c.id, Counter())[c.message] += 1
    rows = [(cid, sum(counter.values()), counter.most_common()) for cid, counter in messages.items()]
    return sorted(rows, key=lambda r: (-r[1], _order(r[0])))


# --- the score histogram, on the real maximum ----------------------------------------------------------------------

def top_score(results: dict[str, Result]) -> float:
    """The most points a student could earn in this grading (the results' largest ``max_score``; 100 for none)."""
    return max((r.max_score for r in results.values()), default=0.0) or 100.0


def bin_edges(top: float = 100.0) -> list[float]:
    """Edges of at most 12 bins of a round width (1, 2 or 5 times a power of ten) from 0 to ``top``; the last
    bin ends at ``top`` (``[0, 10, …, 90, 100]``, ``[0, 10, …, 110, 116]``)."""
    top = top if top > 0 else 100.0
    width = 1.0
    for exponent in range(-3, 7):
        width = next((m * 10.0 ** exponent for m in (1, 2, 5) if top / (m * 10.0 ** exponent) <= 12), 0.0)
        if width:
            break
    n = max(1, math.ceil(top / width - 1e-9))
    return [round(i * width, 6) for i in range(n)] + [top]


def score_histogram(scores: list[float], top: float = 100.0) -> list[int]:
    """How many scores fall in each bin of :func:`bin_edges` (the last bin closed: it holds ``top``)."""
    edges = bin_edges(top)
    counts = [0] * (len(edges) - 1)
    for s in scores:
        i = next((i for i in range(len(counts)) if s < edges[i + 1]), len(counts) - 1)
        counts[i] += 1
    return counts


def bin_label(lo: float, hi: float) -> str:
    return f"{fmt_points(lo)}–{fmt_points(hi)}"


def wrong_answer_fingerprints(result: Result, observations: dict[str, Observations]) -> dict[str, str]:
    """For each student function that failed a check of its own: a digest of everything its probe returned.

    Numbers are rounded to 5 decimals (NaN made canonical), so the same code gives the same digest and a
    different one almost never does. Only a function with a wrong answer on a public check is fingerprinted: not a
    correct one, not the stub or a function that crashes (failures every student shares, though a probe records
    what it sees before calling the code, e.g. that data_iter is no generator function), not one making a
    forbidden call (its outputs may be right), and not one whose probe returned nothing."""
    out = {}
    for function in rubric.STUDENT_FUNCTIONS:
        # public checks only: a function that fails just its hidden check returned the right public outputs
        failed = status(result, function) == "wrong" and any(
            c.target == function and not c.hidden and kind_of(c) == "wrong" for c in result.checks)
        obs = observations.get(function)
        if not failed or obs is None or not obs.values:
            continue
        h = hashlib.sha256()
        for key in sorted(obs.values):
            a = np.asarray(obs.values[key])
            if a.dtype.kind in "fc":
                a = np.round(a.astype(np.float64), 5)
                a = np.where(np.isnan(a), np.nan, a) + 0.0  # one NaN, and -0.0 as 0.0
            h.update(f"{key}|{a.dtype.kind}|{a.shape}|".encode() + np.ascontiguousarray(a).tobytes())
        out[function] = h.hexdigest()
    return out


def shared_wrong_answers(fingerprints: dict[str, dict[str, str]]) -> list[tuple[str, list[str]]]:
    """Groups of two or more students whose function gave identical wrong outputs: (function, students), in
    rubric order, the largest group first."""
    groups: dict[tuple[str, str], list[str]] = {}
    for student in sorted(fingerprints):
        for function, digest in fingerprints[student].items():
            groups.setdefault((function, digest), []).append(student)
    order = {f: i for i, f in enumerate(rubric.STUDENT_FUNCTIONS)}
    found = [(f, names) for (f, _), names in groups.items() if len(names) > 1]
    return sorted(found, key=lambda g: (order[g[0]], -len(g[1]), g[1]))


def first_failure(result: Result, function: str) -> str:
    """The message of the first failed check of ``function`` (public first)."""
    failed = sorted((c for c in result.checks if c.target == function and not c.passed), key=lambda c: c.hidden)
    return failed[0].message if failed else ""


def _names(students: list[str] | tuple[str, ...]) -> str:
    return ", ".join(map(inert.markdown, students)) or "—"


def markdown(results: dict[str, Result], image: str | None = None,
             fingerprints: dict[str, dict[str, str]] | None = None) -> str:
    scores = [r.score for r in results.values()]
    n, top = len(scores), top_score(results)
    lines = ["# Class summary", "",
             f"{n} submissions; mean score {sum(scores) / max(n, 1):.1f} of {fmt_points(top)}.", ""]
    if image:
        lines += [f"![score histogram and what each student did with each function]({image})", ""]
    lines += [f"| score (of {fmt_points(top)}) | students |", "|---|---:|"]
    edges = bin_edges(top)
    for lo, hi, count in zip(edges, edges[1:], score_histogram(scores, top)):
        lines.append(f"| {bin_label(lo, hi)} | {count} {'█' * count} |")

    lines += ["", "## What to reteach", "",
              "The causes the judges named in wrong answers and crashes, the most students first (a student counts "
              "once per cause, whichever checks show it; stubs and forbidden calls are not counted here).", ""]
    named = reteach(results)
    if not named:
        lines.append("No known cause was named.")
    for i, c in enumerate(named, 1):
        where = ", ".join(map(inert.code, c.checks))
        lines.append(f"{i}. {inert.markdown(c.diagnosis)} — {len(c.students)} of {n}: {_names(c.students)} "
                     f"({where})" + (f"; remedy: {inert.markdown(c.remedy)}" if c.remedy else ""))
    rows = unnamed(results)
    if rows:
        lines += ["", "### Wrong answers and crashes with no named cause", ""]
        for cid, who, messages in rows:
            lines.append(f"- {inert.code(cid)}: {len(who)} of {n} ({_names(who)})")
            for message, k in messages[:3]:
                lines.append(f"  - {k}× {inert.markdown(message)}")

    hidden = hidden_failures(results)
    if hidden or any(c.hidden for r in results.values() for c in r.checks):
        lines += ["", "## Hidden checks", "",
                  "On inputs drawn from the instructor's secret (stubs and forbidden calls left out).", ""]
        if not hidden:
            lines.append("Every attempted function passes its hidden checks.")
        for cid, depends, too in hidden:
            parts = []
            if depends:
                parts.append(f"every public check passes, so {causes.hidden.DEPENDS}: {_names(depends)}")
            if too:
                parts.append(f"public checks fail too (fix those first): {_names(too)}")
            lines.append(f"- {inert.code(cid)}: {len(depends) + len(too)} of {n}; " + "; ".join(parts))

    lines += ["", "## Each function", "", "| function | " + " | ".join(STATUSES) + " |",
              "|---|" + "---:|" * len(STATUSES)]
    table = statuses(results)
    for function, by in table.items():
        lines.append(f"| {inert.code(function)} | " + " | ".join(str(len(by[k])) for k in STATUSES) + " |")
    lines.append("")
    for function, by in table.items():
        said = [f"{k}: {_names(by[k])}" for k in STATUSES[1:] if by[k]]
        if said:
            lines.append(f"- {inert.code(function)}: " + "; ".join(said))
        for student in by["crashed"]:
            lines.append(f"  - {inert.markdown(student)}: {inert.markdown(first_failure(results[student], function))}")

    if fingerprints is not None:
        lines += ["", "## Identical wrong answers (for review; no points are taken)", ""]
        groups = shared_wrong_answers(fingerprints)
        if not groups:
            lines.append("No two students share a wrong output.")
        for function, names in groups:
            lines.append(f"- {inert.code(function)}: {', '.join(map(inert.markdown, names))} — the same wrong "
                         "outputs on every probe input "
                         "(shared code, or a mistake common enough to reteach)")
    return "\n".join(lines) + "\n"


def figure(results: dict[str, Result]) -> Figure:
    """Two panels: the score histogram (its axis from 0 to the real maximum), and per student function how many
    students got it right, did not attempt it, made a forbidden call, crashed or got it wrong. Drawn on a
    :class:`~matplotlib.figure.Figure` of its own (no pyplot: no global state, no display); matplotlib is imported
    here, so ``grade batch`` loads it only when it draws."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    top = top_score(results)
    edges = bin_edges(top)
    fig = Figure(figsize=(12, 4.5))
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.4]})
    counts = score_histogram([r.score for r in results.values()], top)
    left.bar(edges[:-1], counts, width=[(hi - lo) * 0.9 for lo, hi in zip(edges, edges[1:])], align="edge",
             color="#4c72b0")
    left.set(title="Scores", xlabel=f"score (points of {fmt_points(top)})", ylabel="students", xlim=(0, top))
    labels = [fmt_points(e) for e in edges]
    if len(edges) > 2 and top - edges[-2] < 0.6 * (edges[1] - edges[0]):
        labels[-2] = ""  # a short last bin: its left edge's label would run into the maximum's
    left.set_xticks(edges, labels, fontsize="small")
    table = statuses(results)
    names = list(table)[::-1]
    base = np.zeros(len(names))
    for k in STATUSES:
        widths = np.array([len(table[f][k]) for f in names], dtype=float)
        right.barh(names, widths, left=base, color=COLORS[k], label=k)
        base += widths
    right.set(title="What each student did with each function", xlabel="students")
    if names:
        right.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=len(STATUSES), fontsize="small",
                     frameon=False)
    left.yaxis.set_major_locator(MaxNLocator(integer=True))
    right.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    return fig

"""The instructor's view of a class: what to reteach, and wrong answers students share.

From the results of ``grade batch``: a score histogram and, per check, how many students failed it with their
most common messages first — as Markdown (``class_summary.md``, the messages and students' ids as inert text:
:mod:`grader.reports.inert`) and a PNG (``class_summary.png``). The Markdown
also lists groups of students whose function gave *identical wrong outputs* on every probe input: a stronger
sign of shared code than similar source, and common mistakes show up the same way, so it is for an
instructor's review, never a penalty by itself.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from grader import rubric
from grader.checks.common import Observations
from grader.reports import inert
from grader.reports.result import Result

if TYPE_CHECKING:
    from matplotlib.figure import Figure

BINS = tuple(range(0, 101, 10))  # score bins of 10 points; the last holds 90–100


def score_histogram(scores: list[float]) -> list[int]:
    """How many scores fall in [0, 10), [10, 20), …, [90, 100]."""
    counts = [0] * (len(BINS) - 1)
    for s in scores:
        counts[min(int(s // 10), len(counts) - 1)] += 1
    return counts


def failures(results: dict[str, Result]) -> list[tuple[str, int, list[tuple[str, int]]]]:
    """Per failed check, most failed first: (check id, students failing, [(message, count), …] by count)."""
    messages: dict[str, Counter] = {}
    for result in results.values():
        for c in result.checks:
            if not c.passed:
                messages.setdefault(c.id, Counter())[c.message] += 1
    order = {c.id: i for i, c in enumerate(rubric.CHECKS)}
    rows = [(cid, sum(counter.values()), counter.most_common()) for cid, counter in messages.items()]
    return sorted(rows, key=lambda r: (-r[1], order.get(r[0], 0)))


def wrong_answer_fingerprints(result: Result, observations: dict[str, Observations]) -> dict[str, str]:
    """For each student function that failed a check of its own: a digest of everything its probe returned.

    Numbers are rounded to 5 decimals (NaN made canonical), so the same code gives the same digest and a
    different one almost never does. Correct functions are not fingerprinted, nor a function whose probe returned
    nothing (a stub, a crash: failures every student shares)."""
    out = {}
    for function in rubric.STUDENT_FUNCTIONS:
        # public checks only: a function that fails just its hidden check returned the right public outputs
        failed = any(c.target == function and not c.passed and not c.hidden for c in result.checks)
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


def markdown(results: dict[str, Result], image: str | None = None,
             fingerprints: dict[str, dict[str, str]] | None = None) -> str:
    scores = [r.score for r in results.values()]
    n = len(scores)
    lines = ["# Class summary", "", f"{n} submissions; mean score {sum(scores) / max(n, 1):.1f}.", ""]
    if image:
        lines += [f"![score histogram and failed checks]({image})", ""]
    lines += ["| score | students |", "|---|---:|"]
    for lo, count in zip(BINS, score_histogram(scores)):
        hi = lo + 10 if lo < 90 else 100
        lines.append(f"| {lo}–{hi} | {count} {'█' * count} |")
    lines += ["", "## Checks to reteach", ""]
    rows = failures(results)
    if not rows:
        lines.append("Every student passed every check.")
    for cid, count, msgs in rows:
        lines.append(f"- {inert.code(cid)}: {count} of {n} failed")
        for message, k in msgs[:3]:
            lines.append(f"  - {k}× {inert.markdown(message)}")
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
    """Two panels: the score histogram, and how many students failed each check (most failed first). Drawn on
    a :class:`~matplotlib.figure.Figure` of its own (no pyplot: no global state, no display); matplotlib is
    imported here, so ``grade batch`` loads it only when it draws."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    rows = failures(results)[:15]
    fig = Figure(figsize=(12, 4.5))
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.4]})
    left.bar([b + 5 for b in BINS[:-1]], score_histogram([r.score for r in results.values()]), width=9,
             color="#4c72b0")
    left.set(title="Scores", xlabel="score (points of 100)", ylabel="students", xlim=(0, 100))
    names = [cid for cid, _, _ in rows][::-1]
    right.barh(names, [count for _, count, _ in rows][::-1], color="#c44e52")
    right.set(title="Students failing each check", xlabel="students")
    left.yaxis.set_major_locator(MaxNLocator(integer=True))
    right.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    return fig


def write(results: dict[str, Result], out: Path,
          fingerprints: dict[str, dict[str, str]] | None = None) -> tuple[Path, Path]:
    """Write ``class_summary.md`` and ``class_summary.png`` into ``out``."""
    png, md = out / "class_summary.png", out / "class_summary.md"
    figure(results).savefig(png, dpi=100)
    md.write_text(markdown(results, png.name, fingerprints))
    return md, png

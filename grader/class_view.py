"""The instructor's view of a class: what to reteach.

From the results of ``grade batch``: a score histogram and, per check, how many students failed it with their
most common messages first — as Markdown (``class_summary.md``) and a PNG (``class_summary.png``).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from . import rubric
from .result import Result

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


def markdown(results: dict[str, Result], image: str | None = None) -> str:
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
        lines.append(f"- `{cid}`: {count} of {n} failed")
        for message, k in msgs[:3]:
            lines.append(f"  - {k}× {message}")
    return "\n".join(lines) + "\n"


def figure(results: dict[str, Result]):
    """Two panels: the score histogram, and how many students failed each check (most failed first)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    rows = failures(results)[:15]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [1, 1.4]})
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


def write(results: dict[str, Result], out: Path) -> tuple[Path, Path]:
    """Write ``class_summary.md`` and ``class_summary.png`` into ``out``."""
    png, md = out / "class_summary.png", out / "class_summary.md"
    fig = figure(results)
    fig.savefig(png, dpi=100)
    import matplotlib.pyplot as plt
    plt.close(fig)
    md.write_text(markdown(results, png.name))
    return md, png

"""The class summary's three files, written together: ``class_summary.md`` and ``class_summary.png``
(:mod:`grader.reports.class_view`) and ``class_summary.html`` (:mod:`grader.reports.dashboard`, which reads the
class view)."""

from __future__ import annotations

from pathlib import Path

from grader.reports import class_view, dashboard
from grader.reports.result import Result


def write(results: dict[str, Result], out: Path, fingerprints: dict[str, dict[str, str]] | None = None,
          stems: dict[str, str] | None = None, previous: dict[str, Result] | None = None) -> tuple[Path, Path, Path]:
    """Write ``class_summary.md``, ``class_summary.png`` and ``class_summary.html`` into ``out``. ``stems`` (student
    id → file name of the reports, without suffix) lets the dashboard link each student's report; ``previous``
    (an earlier grading of the class, by student id) adds the regrade's moves (:mod:`grader.reports.regrade`)."""
    png, md, page = out / "class_summary.png", out / "class_summary.md", out / "class_summary.html"
    class_view.figure(results).savefig(png, dpi=100, bbox_inches="tight")
    md.write_text(class_view.markdown(results, png.name, fingerprints))
    page.write_text(dashboard.html(results, fingerprints, stems, previous), encoding="utf-8")
    return md, png, page

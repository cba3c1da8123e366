"""Figures (matplotlib, headless): the student's training curves beside the reference's.

``grade PATH --report-dir DIR`` calls :func:`write_report_dir`: one PNG per training check (its
:mod:`grader.reports.curves` panels, the student's run as solid lines, the reference's dashed, the check's pass line
dotted), the polynomial under/over-fitting figure, and ``report.md``, the Markdown report linking them.
The solutions' scripts save the book's figures of their own runs with :func:`save_curves`
(``python -m solutions.mlp curves.png``).

Figures are built with :class:`matplotlib.figure.Figure` directly (no pyplot, no display, no global state).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from grader import rubric
from grader.checks.common import Observations, ProbeFailed
from grader.data import datasets
from grader.engine.student_errors import describe_exception
from grader.reports import curves, inert, report
from grader.reports.curves import Panel
from grader.reports.result import Result

COLORS = {"train": "tab:blue", "test": "tab:orange", "error": "tab:blue",
          "train loss": "tab:blue", "train acc": "tab:purple", "test acc": "tab:green"}
POLYNOMIAL_FIGURE = "polynomial.png"
NOTE_CHARS = 300  # a longer note (a student's exception) is cut: the report carries the whole message


def _plot_series(ax, epochs: np.ndarray, values: np.ndarray, label: str, color: str, dashed: bool) -> None:
    style = dict(color=color, linewidth=1.6 if not dashed else 1.3, linestyle="--" if dashed else "-",
                 alpha=0.75 if dashed else 1.0)
    if len(values) <= 30 and not dashed:
        style["marker"] = "o"
        style["markersize"] = 3.5
    ax.plot(epochs, values, label=label, **style)


def _same_curve(a, b) -> bool:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-6, atol=1e-9, equal_nan=True))


def _draw_panel(ax, runs: list[tuple[str, Panel]]) -> None:
    """Draw one metric for every run (``[(who, panel)]``; the first is solid, the rest and the reference dashed).

    A dashed series equal to the first run's would hide under it while the legend listed it: it is not drawn,
    and the first run's line is labelled for both (``you = reference: test acc``)."""
    panel = runs[0][1]
    positive = True
    first = runs[0][1]
    for i, (who, p) in enumerate(runs):
        for label, values in p.series.items():
            values = np.asarray(values, np.float64)
            if i > 0 and label in first.series and _same_curve(values, first.series[label]):
                continue  # drawn as the first run's line
            names = [who] + ([w for w, q in runs[1:] if label in q.series and _same_curve(values, q.series[label])]
                             if i == 0 else [])
            positive &= bool(np.all(values[np.isfinite(values)] > 0))
            epochs = np.arange(1, len(values) + 1)
            name = f"{' = '.join(names)}: {label}" if who else label
            _plot_series(ax, epochs, values, name, COLORS.get(label, "tab:green"), dashed=i > 0 or who == "reference")
    if panel.threshold is not None:
        ax.axhline(panel.threshold, color="tab:red", linestyle=":", linewidth=1.2, label="pass line")
    if panel.log and positive:
        ax.set_yscale("log")
    ax.set_title(panel.title, fontsize=10)
    ax.set_xlabel("epoch")
    ax.set_ylabel(panel.ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)


def curves_figure(title: str, runs: list[tuple[str, list[Panel]]], note: str | None = None) -> Figure:
    """A row of panels, one per metric, each drawing the same panel of every run in ``runs``
    (``[(who, panels)]``: the first run solid, the others dashed). ``note`` is printed under the title, as the
    text it is: it may quote a student's exception, so control characters are removed and no ``$...$`` is read as
    mathtext (which could not be drawn)."""
    runs = [(who, panels) for who, panels in runs if panels]
    width = max(len(panels) for _, panels in runs) if runs else 1
    fig = Figure(figsize=(5.2 * width, 4.0), layout="constrained")
    axes = fig.subplots(1, width, squeeze=False)[0]
    for i, ax in enumerate(axes):
        if runs:
            _draw_panel(ax, [(who, panels[i]) for who, panels in runs if i < len(panels)])
        else:
            ax.axis("off")
    if note is not None and len(note) > NOTE_CHARS:
        note = note[:NOTE_CHARS - 1].rstrip() + "…"
    heading = title if note is None else title + "\n" + textwrap.fill(inert.text(note), 110 * width // 2)
    fig.suptitle(heading, fontsize=11, parse_math=False)
    return fig


def runs_figure(title: str, runs: dict[str, dict[str, dict[str, list[float]]]], ylabel: str = "",
                log: bool = False) -> Figure:
    """Per-epoch series as a figure: ``runs[who][panel title][series]`` holds one value per epoch; one panel
    per title, each drawing every run (the first solid, the others dashed)."""
    return curves_figure(title, [(who, [Panel(name, ylabel, {k: np.asarray(v, np.float64) for k, v in series.items()},
                                              log=log) for name, series in panels.items()])
                                 for who, panels in runs.items()])


def save_curves(path: str | Path, title: str, runs: dict[str, dict[str, dict[str, list[float]]]],
                ylabel: str = "", log: bool = False) -> Path:
    """Save :func:`runs_figure` to ``path`` (the solutions' scripts draw the book's figures with it)."""
    runs_figure(title, runs, ylabel, log).savefig(path, dpi=100)
    return Path(path)


def _panels(make, s: Observations) -> tuple[list[Panel], str | None]:
    """The student's panels, or none and the reason (the probe failed, or its output cannot be drawn)."""
    try:
        return make(s), None
    except ProbeFailed as exc:
        return [], f"your run: {exc}"
    except Exception as exc:  # shapes no curve foresaw (a broken sgd): say so, draw the reference alone
        return [], f"your run cannot be drawn ({describe_exception(exc)})"


def _first_nonfinite_epoch(panels: list[Panel]) -> int | None:
    """The first epoch (1-based) at which any series of ``panels`` is nan or inf, if one is."""
    epochs = [int(np.argmax(~np.isfinite(v))) + 1 for p in panels for v in map(np.asarray, p.series.values())
              if not np.all(np.isfinite(v))]
    return min(epochs) if epochs else None


def comparison_figure(title: str, make, student: Observations, reference: Observations) -> Figure:
    """The student's run (solid) beside the reference's (dashed); ``make(obs) -> panels``."""
    yours, note = _panels(make, student)
    ref, _ = _panels(make, reference)
    if (epoch := _first_nonfinite_epoch(yours)) is not None:
        note = (f"your run reaches nan/inf at epoch {epoch} (training diverged): from there its curves "
                "cannot be drawn")
    return curves_figure(title, [("you", yours), ("reference", ref)], note)


def training_figures(result: Result, student: dict[str, Observations], reference: dict[str, Observations],
                     data: datasets.DataSpec = datasets.DIGITS) -> dict[str, Figure]:
    """One figure per training check in ``result`` (trained on ``data``), keyed by check id."""
    out = {}
    verdicts = {c.id: c for c in result.checks}
    for check in rubric.checks_for_data(data, [rubric.BY_ID[c.id] for c in result.checks if c.id in rubric.BY_ID]):
        if check.probe not in curves.TRAINING or check.probe not in student or check.probe not in reference:
            continue
        status = " — passed" if verdicts[check.id].passed else " — FAILED"
        out[check.id] = comparison_figure(f"{check.id}: {check.description}{status}",
                                          lambda s, check=check: curves.training_panels(s, check),
                                          student[check.probe], reference[check.probe])
    return out


# What the figure shows: the grader's own fits (grader.checks.trainings.polynomial) run the student's data_iter and
# sgd; the section script the student runs, python -m exercises.polynomial, trains with optax.sgd instead.
POLYNOMIAL_TITLE = ("Polynomial fits the grader trained with your data_iter and sgd: train and test loss per epoch\n"
                    "(python -m exercises.polynomial trains with optax.sgd instead)")


def polynomial_figure(student: Observations, reference: Observations) -> Figure:
    return comparison_figure(POLYNOMIAL_TITLE, curves.polynomial_panels, student, reference)


def write_report_dir(directory: str | Path, result: Result, student: dict[str, Observations],
                     reference: dict[str, Observations], data: datasets.DataSpec = datasets.DIGITS
                     ) -> dict[str, Path]:
    """Write the figures of ``result``'s training checks (trained on ``data``) and of the polynomial fits, and
    ``report.md`` (the Markdown report linking them), into ``directory``.

    Returns the written files: check id (or ``"polynomial"``, ``"report"``) -> path.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    figures = training_figures(result, student, reference, data)
    if "polynomial" in student and "polynomial" in reference:
        figures["polynomial"] = polynomial_figure(student["polynomial"], reference["polynomial"])
    written = {}
    for key, fig in figures.items():
        name = POLYNOMIAL_FIGURE if key == "polynomial" else f"{key}.png"
        fig.savefig(directory / name, dpi=100)
        written[key] = directory / name
    links = {key: path.name for key, path in written.items()}
    (directory / "report.md").write_text(report.markdown(result, figures=links))
    written["report"] = directory / "report.md"
    return written

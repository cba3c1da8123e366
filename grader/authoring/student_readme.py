"""The README of a student repository (``grade release``): how to test, how grading works, the points.

The text is the template ``grader/authoring/templates/student_README.md``; its tables come from the rubric (the points
of each function and training, the thresholds) and from :data:`grader.checks.trainings.tasks.TRAININGS` (the
settings each training runs with), so the README states what the grader does.
"""

from __future__ import annotations

from grader import rubric
from grader.authoring import templating
from grader.reports.result import fmt_points

TEMPLATE = "student_README.md"

# What a training check asks for, in the students' words ({t}: the rubric's threshold).
CRITERIA = {
    "linear_regression": "largest error of w and b ≤ {t}",
    "softmax_regression": "test accuracy on digits ≥ {t}",
    "mlp": "test accuracy on digits ≥ {t}",
    "weight_decay": "test loss with λ = 3 ≤ {t}, and below λ = 0's",
}


def training_settings() -> dict[str, dict[str, str]]:
    """Label, batch size, learning rate and epochs of each training task, as the README prints them."""
    from grader.checks.trainings import tasks

    return {task: {"label": t.label.replace("_", " "), **{k: f"{t.settings[k]:g}" for k in tasks.SETTINGS}}
            for task, t in tasks.TRAININGS.items()}


def training_checks() -> list[rubric.Check]:
    """The rubric's checks of trained models (every check whose target is not a student function)."""
    return [c for c in rubric.CHECKS if c.target not in rubric.STUDENT_FUNCTIONS]


def not_allowed(function: str) -> str:
    """The routines ``function`` may not call (the rubric's forbidden shortcuts, as the course sets them), in
    Markdown, grouped by the modules that hold the same names: ``softmax``, ``log_softmax`` from ``jax.nn``,
    ``flax.nnx``; the grader package, forbidden to every function, is left to the sentence below the table."""
    leaves_of: dict[str, list[str]] = {}
    for name in rubric.FORBIDDEN_SHORTCUTS.get(function, ()):
        if name != "grader":
            parent, _, leaf = name.rpartition(".")
            leaves_of.setdefault(parent, []).append(leaf)
    parents_of: dict[tuple[str, ...], list[str]] = {}
    for parent, leaves in leaves_of.items():
        parents_of.setdefault(tuple(leaves), []).append(parent)
    return "; ".join(", ".join(f"`{leaf}`" for leaf in leaves) + " from " + ", ".join(f"`{p}`" for p in parents)
                     for leaves, parents in parents_of.items()) or "—"


def functions_table() -> str:
    """Markdown table: each student function, its file, its points and the library routines it may not call."""
    points: dict[str, float] = {}
    for c in rubric.CHECKS:
        points[c.target] = points.get(c.target, 0.0) + c.points
    rows = [f"| `{name}` | `exercises/{module}.py` | {fmt_points(points.get(name, 0))} | {not_allowed(name)} |"
            for name, module in rubric.STUDENT_FUNCTIONS.items()]
    return "\n".join(["| function | file | points | not allowed (the function would score 0) |",
                      "|---|---|---:|---|", *rows])


def training_table() -> str:
    """Markdown table: each training, the student's parts in it, its settings, when it passes, its points."""
    settings = training_settings()
    rows = []
    for check in training_checks():
        s = settings.get(check.target, {})
        setting = f"batch {s['batch']}, lr {s['lr']}, {s['epochs']} epochs" if s else ""
        parts = ", ".join(f"`{f}`" for f in rubric.PROBES[check.probe].uses)
        criterion = CRITERIA.get(check.target, check.description + " (threshold {t})").format(t=f"{check.threshold:g}")
        label = s.get("label", check.target.replace("_", " "))
        rows.append(f"| {label} | {parts} | {setting} | {criterion} | {fmt_points(check.points)} |")
    return "\n".join(["| training | your parts | settings | passes when | points |",
                      "|---|---|---|---|---:|", *rows])


def _time_limit() -> str:
    from grader.engine.sandbox import Limits

    return f"{Limits().probe_seconds:g}"


def student_readme(artifact: str, figures_dir: str) -> str:
    """The students' README; ``artifact`` and ``figures_dir`` name what their workflow uploads."""
    return templating.fill(TEMPLATE, {
        "functions": functions_table(),
        "training_points": fmt_points(sum(c.points for c in training_checks())),
        "total": fmt_points(rubric.MAX_SCORE),
        "figures": figures_dir,
        "artifact": artifact,
        "limit": _time_limit(),
        "trainings": training_table(),
    })

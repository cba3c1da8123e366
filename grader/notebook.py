"""The nbgrader front end: the autograder cells of the chapter's notebooks call :func:`check`.

A test cell is ``from grader.notebook import check`` then ``check("softmax.values")``. It runs the check's probe
on the functions the notebook defined (in the kernel: nbgrader runs each notebook in its own), judges it with
the same judges and reference as ``grade``, prints the feedback on stdout and returns the points earned, which
nbgrader records as the cell's (partial) score. Nothing is written to stderr: nbgrader scores a cell that
writes to stderr 0.

This is a self-check: the student's code runs in the same process and can change what it reports. The points
that count come from :mod:`grader.nbgrader_step`, which ``nbgrader autograde`` runs outside the kernel. When a
kernel runs under ``nbgrader autograde`` anyway (``NBGRADER_EXECUTION=autograde``), :func:`check` runs nothing
and returns 0, so a course whose pipeline lacks that step scores nothing rather than whatever the kernel says.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import os
import warnings

from grader import grading, rubric
from grader.engine import probing, references, shortcuts

_cache: dict[tuple, object] = {}


def _notebook_source(namespace: dict) -> str:
    """Every cell the kernel ran (IPython's ``In``), without magics, to look for forbidden shortcuts."""
    cells = namespace.get("In") or []
    return "\n".join(line for cell in cells for line in str(cell).splitlines()
                     if not line.lstrip().startswith(("%", "!")))


def _observe(probe: rubric.Probe, functions: dict, errors: dict):
    key = (probe.name, tuple((f, id(fn), getattr(getattr(fn, "__code__", None), "co_code", None))
                             for f, fn in sorted(functions.items())), tuple(sorted(errors.items())))
    if key not in _cache:
        _cache[key] = probing.observe(functions, errors, [probe.name])[probe.name]
    return _cache[key]


def check(check_id: str, namespace: dict | None = None) -> float:
    """Judge one rubric check on the notebook's functions; print the feedback; return the points."""
    if os.environ.get("NBGRADER_EXECUTION") == "autograde":
        print(f"{check_id}: scored by the grader's sandbox after this run, not in the notebook (0 points here: "
              "if this stays, the course's nbgrader_config.py lacks grader.nbgrader_step)")
        return 0.0
    c = rubric.BY_ID[check_id]
    if c.probe in rubric.HIDDEN_PROBES:
        print(f"{check_id}: a hidden check, on inputs drawn from your instructor's secret: scored by the grader's "
              "sandbox when your work is graded (0 points here)")
        return 0.0
    if namespace is None:
        namespace = inspect.currentframe().f_back.f_globals
    probe = rubric.PROBES[c.probe]
    functions = {f: namespace[f] for f in probe.uses if callable(namespace.get(f))}
    errors = {f: f"{f} is not defined in this notebook: run the cell that defines it"
              for f in probe.uses if f not in functions}
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        observations = {probe.name: _observe(probe, functions, errors)}
        reference = references.observations(None, [probe.name])
        source = _notebook_source(namespace)
        found = {f: shortcuts.message(f, names) for f in probe.uses
                 if (names := shortcuts.find(source, f, rubric.FORBIDDEN_SHORTCUTS.get(f, ())))}
        result = grading.judge(observations, reference, [c], found).checks[0]
    verdict = "passed" if result.passed else "FAILED"
    print(f"{c.id}: {verdict}, {result.points:g}/{result.max_points:g} points. {result.message}")
    return result.points

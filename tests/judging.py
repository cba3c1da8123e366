"""Observe, then judge, in the test process: the reference with one function swapped, graded as ``grade`` grades it
but without the sandbox (the sandbox's own tests are the end-to-end ones)."""

from __future__ import annotations

from grader import grading, rubric
from grader.engine import probing, shortcuts


def observe_and_judge(functions: dict, errors: dict, probes, reference_obs, checks=None, shortcut_messages=None):
    """Run ``probes`` on ``functions`` (``errors``: the functions that could not be loaded, with why) in this
    process and judge the observations against the reference's: ``checks`` (default: the whole rubric)."""
    return grading.judge(dict(reference_obs) | probing.observe(functions, errors, list(probes)), reference_obs,
                         checks, shortcuts=shortcut_messages)


def swap(function: str, impl, solution_functions, reference_obs, *, only_own: bool = False, source: str | None = None):
    """The :class:`~grader.reports.result.Result` of the reference with ``function`` replaced by ``impl``.

    Only the probes that use ``function`` run again (the others keep the reference's observations). With
    ``only_own``, only ``function``'s own probe runs and only its own checks are judged (the trainings are left
    out). With ``source`` (the text of the file defining ``impl``), forbidden calls are read from it, as ``grade``
    reads them from a submission's files."""
    probes = [function] if only_own else [p.name for p in rubric.PROBES.values() if function in p.uses]
    found = shortcuts.find(source, impl.__name__, rubric.FORBIDDEN_SHORTCUTS[function]) if source else None
    return observe_and_judge(dict(solution_functions) | {function: impl}, {}, probes, reference_obs,
                             rubric.checks_for([function]) if only_own else None,
                             {function: shortcuts.message(function, found)} if found else None)


def failed_messages(result) -> dict[str, str]:
    """The failed checks' messages, by check id."""
    return {c.id: c.message for c in result.checks if not c.passed}

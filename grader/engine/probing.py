"""The probing engine: run the rubric's probes on a set of functions and record what they return.

This is the only part of grading that runs untrusted code, and all that the sandboxed child
(:mod:`grader.engine.child`) imports of it: a probe calls the functions on seeded inputs and records plain arrays in
:class:`~grader.checks.common.Observations`; judging happens elsewhere (:mod:`grader.grading`).
"""

from __future__ import annotations

from typing import Callable, Iterable

from grader import rubric
from grader.checks.common import Observations
from grader.data import datasets
from grader.engine.student_errors import describe_exception


def observe(functions: dict[str, Callable], errors: dict[str, str], probes: Iterable[str] | None = None,
            data: datasets.DataSpec = datasets.DIGITS, seeds: dict[str, int] | None = None) -> dict[str, Observations]:
    """Run each probe on the student's functions; a probe whose functions are unavailable records why.

    ``probes`` may name figure and hidden probes too (``rubric.ALL_PROBES``); trainings that need a dataset use
    ``data``; a hidden probe draws its inputs from its seed in ``seeds``.
    """
    seeds = seeds or {}
    out = {}
    for name in (rubric.PROBES if probes is None else probes):
        probe = rubric.ALL_PROBES[name]
        obs = Observations()
        missing = [f for f in probe.uses if f not in functions]
        if probe.hidden and name not in seeds:
            obs.fail_all(f"{name} has no seed: hidden probes run only with the instructor's secret")
        elif missing:
            f = missing[0]
            reason = errors.get(f, f"{f} is missing")
            obs.fail_all(reason if f in reason else f"{f}: {reason}")
        else:
            try:
                fns = {f: functions[f] for f in probe.uses}
                if probe.hidden:
                    obs = probe.run(fns, seed=seeds[name])
                else:
                    obs = probe.run(fns, data=data) if probe.needs_data else probe.run(fns)
            except Exception as exc:  # a probe's own guard missed something: report, never crash
                obs.fail_all(f"{name} could not be probed: {describe_exception(exc)}")
        out[name] = obs
    return out

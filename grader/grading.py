"""Run the rubric: probe the student's functions, probe the reference, judge, and collect a :class:`Result`.

:func:`grader.engine.probing.observe` is the half that runs untrusted code; ``judge`` only compares plain arrays.
:func:`grade` runs ``observe`` in a sandboxed child as a :class:`~grader.engine.plan.GradingPlan` says (for
``grade``, ``pytest exercises/`` and the nbgrader step; ``grade batch`` probes with the same plan and judges with
:func:`judge_submission`) while this process observes the reference; the nbgrader cells and the kit's own tests
call ``observe`` directly.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from grader import rubric
from grader.checks import causes
from grader.checks import hidden as hidden_checks
from grader.checks.common import Observations, ProbeFailed, admit
from grader.engine import references, shortcuts
from grader.engine.plan import GradingPlan, HiddenInputs, probe  # noqa: F401 (HiddenInputs: grading.HiddenInputs)
from grader.engine.student_errors import describe_exception, is_stub_failure
from grader.reports import manifest
from grader.reports.result import CheckResult, Result

if TYPE_CHECKING:
    from grader.engine.sandbox import SandboxRun



def subject(probe: str) -> str:
    """What returned a probe's observations, for a message: the function (``softmax``), or ``the mlp training``."""
    p = rubric.ALL_PROBES.get(probe)
    if p is not None and (p.hidden or probe in rubric.STUDENT_FUNCTIONS):
        return p.uses[0]
    return f"the {probe.replace('_', ' ')} training" if p is not None and p.name in rubric.PROBES else probe


def admitted(student: dict[str, Observations], reference: dict[str, Observations]) -> dict[str, Observations]:
    """Each probe's observations as :func:`~grader.checks.common.admit` lets judges compute on them: checked
    against the reference's of the same probe (none: nothing is admitted)."""
    return {p: admit(obs, reference.get(p, Observations()), subject(p)) for p, obs in student.items()}


def judge(student: dict[str, Observations], reference: dict[str, Observations],
          checks: Iterable[rubric.Check] | None = None, shortcuts: dict[str, str] | None = None) -> Result:
    """Judge every check on the observations; a training check that fails names its parts' failing checks.

    ``shortcuts`` maps a student function to the message of the forbidden library call it makes: each of
    that function's own checks then scores 0 with that message. The judges read only what :func:`admitted`
    lets through: no observation of another dtype family than the reference's, or far larger than it.
    A failed check says why it failed (its ``kind``: :data:`~grader.reports.result.KINDS`) and the cause its
    message names, if any (:func:`grader.checks.causes.named`).
    """
    results = []
    checks = rubric.CHECKS if checks is None else checks  # the course's rubric (grader.course_file.apply), read now
    shortcuts = shortcuts or {}
    admitted_obs = admitted(student, reference)
    refused = tuple(message for p, obs in admitted_obs.items() for key, message in obs.errors.items()
                    if student[p].errors.get(key) != message)  # wrong outputs the judges may not compute on
    for check in checks:
        if check.target in shortcuts:
            results.append(CheckResult(check.id, check.target, 0.0, check.points, False, shortcuts[check.target],
                                       hidden=not check.visible, kind="forbidden"))
            continue
        kind = "wrong"
        try:
            verdict = check.judge(admitted_obs[check.probe], reference[check.probe], check)
            fraction, message = verdict.fraction, verdict.message
        except ProbeFailed as exc:
            fraction, message = 0.0, str(exc)
            kind = _failure_kind(message, refused)
        except Exception as exc:  # output of a shape or kind no judge foresaw: fail the check, never the run
            fraction, message = 0.0, f"the output could not be judged ({describe_exception(exc)})"
        fraction = min(max(float(fraction), 0.0), 1.0)
        passed = fraction >= 1.0
        results.append(CheckResult(check.id, check.target, round(check.points * fraction, 4), check.points,
                                   passed, message, hidden=not check.visible, kind="" if passed else kind))
    return Result(tuple(_with_causes(_with_hidden_causes(_with_related_failures(results)))))


def _failure_kind(message: str, refused: tuple[str, ...]) -> str:
    """The kind of a check that failed for want of an observation: the exercise's stub, an output the judges
    refused (a wrong answer), or an error (the code raised, did not load, ran out of time)."""
    if is_stub_failure(message):
        return "stub"
    return "wrong" if any(message.startswith(m) for m in refused) else "crash"


def _with_causes(results: list[CheckResult]) -> list[CheckResult]:
    """Each failed check with the cause its message names (none for a stub's or a forbidden call's)."""
    return [dataclasses.replace(r, cause=causes.named(r.target, r.message, r.hidden))
            if r.kind in ("wrong", "crash") else r for r in results]


def _with_hidden_causes(results: list[CheckResult]) -> list[CheckResult]:
    """A failed hidden check's message, with the cause its function's public checks show (:func:`hidden.explain`);
    when they fail too, its kind is theirs (a stub's hidden check was not attempted either)."""
    out = []
    for r in results:
        if r.hidden and r.message.startswith(hidden_checks.HEAD):  # the hidden judge's failure (not a shortcut's)
            public = [p for p in results if p.target == r.target and not p.hidden and not p.passed]
            kinds = {p.kind for p in public}
            kind = "stub" if kinds == {"stub"} else "crash" if kinds and kinds <= {"stub", "crash"} else r.kind
            r = dataclasses.replace(r, message=hidden_checks.explain(r.message, r.target, [p.id for p in public]),
                                    kind=kind)
        out.append(r)
    return out


def _with_related_failures(results: list[CheckResult]) -> list[CheckResult]:
    failed_by_target: dict[str, list[str]] = {}
    for r in results:
        if not r.passed:
            failed_by_target.setdefault(r.target, []).append(r.id)
    out = []
    for r in results:
        check = rubric.BY_ID.get(r.id)
        if check is not None and not r.passed and check.target not in rubric.STUDENT_FUNCTIONS:
            related = [f for f in rubric.PROBES[check.probe].uses if f in failed_by_target]
            if related:
                names = ", ".join(related[:-1]) + (" and " if len(related) > 1 else "") + related[-1]
                verb = "fails" if len(related) == 1 else "fail"
                r = dataclasses.replace(r, message=f"{r.message} ({names} {verb} checks of "
                                        f"{'its' if len(related) == 1 else 'their'} own: fix those first)")
        out.append(r)
    return out


def grade(directory: str | Path, plan: GradingPlan,
          progress: Callable[[str, str], None] | None = None) -> tuple[Result, SandboxRun]:
    """Grade a submission safely, as ``plan`` says: probes in a confined child, the reference meanwhile in this
    process.

    The plan's probes may include figure probes (``rubric.FIGURE_PROBES``); they are observed, not judged. Its
    data must be resolved (:meth:`~grader.data.datasets.DataSpec.resolve`) so the child finds the files. With
    ``require_isolation`` it refuses to grade (:class:`~grader.engine.sandbox.SandboxError`) without every layer.
    With a secret and a student it adds the hidden probes of the graded functions; without, their checks are
    reported as not run. A reference that does not load, fails a probe or misses a public check raises
    :class:`~grader.errors.BrokenReference` (see :func:`observe_reference`, :func:`reference_meets_rubric`).
    """
    box: dict = {}

    def work():
        try:
            box["run"] = probe(directory, plan, progress)
        except BaseException as exc:  # surfaced below, in this thread
            box["error"] = exc

    thread = threading.Thread(target=work, name="sandbox", daemon=True)
    thread.start()
    try:
        reference_obs = observe_reference(plan)
        prepare_judges(plan.all_probes(), plan.data)
        reference_meets_rubric(reference_obs, plan)
    except references.BrokenReference:
        thread.join()  # the child finishes (and is reaped) before the grader stops
        raise
    thread.join()
    if "error" in box:
        raise box["error"]
    run = box["run"]
    return judge_submission(directory, run, reference_obs, plan), run


def observe_reference(plan: GradingPlan, probes: list[str] | None = None) -> dict[str, Observations]:
    """The reference's observations of ``probes`` (default: all the plan's, its hidden ones with their seeds),
    checked (:func:`~grader.engine.references.sound_reference`)."""
    probes = plan.all_probes() if probes is None else probes
    return references.sound_reference(references.observations(plan.reference, probes, plan.data, plan.seeds),
                                      plan.reference)


def reference_meets_rubric(reference_obs: dict[str, Observations], plan: GradingPlan) -> None:
    """Refuse to grade (:class:`~grader.engine.references.BrokenReference`, status 2) when the reference, judged
    against itself, misses a public check of the plan's probes under the rubric in force: a course file that asks
    for more than the solutions reach (a threshold above their accuracy, say) would fail every student."""
    from grader import course_file as course

    reference = plan.reference
    checks = rubric.checks_for_data(plan.data, [c for c in rubric.CHECKS
                                                if c.probe in plan.probes and c.probe in reference_obs])
    failed = [c for c in judge(reference_obs, reference_obs, checks).checks if not c.passed]
    if failed:
        c = failed[0]
        raise references.BrokenReference(
            f"the reference ({references.describe_reference(reference)}) fails {c.id} under "
            f"{course.current().describe()}: {c.message}. Change the course file or the reference; no student is "
            "graded against a rubric the reference cannot pass")


def prepare_judges(probes: Iterable[str], data) -> None:
    """Compute what the judges of ``probes`` need that no student decides (the classification set's test split,
    the weight-decay data, optax's path), so it is ready before the child is done (see :attr:`rubric.Probe.prepare`)."""
    for name in probes:
        prepare = rubric.ALL_PROBES[name].prepare
        if prepare is not None:
            prepare(data)


def run_time_shortcut_message(function: str, names: list[str]) -> str:
    return (f"{function} called {', '.join(names)} while it was checked (seen at run time), which solves the "
            "exercise outright or reaches into the grading kit: write it yourself with jax.numpy operations "
            "(none of its checks score while it does)")


def _did_not_load(function: str, run: SandboxRun) -> bool:
    """The child could not load ``function`` at all (a syntax error, say): the loader's message, which names
    the line, is the one to show, rather than the static scan's "could not be read"."""
    obs = run.observations.get(function)
    module = rubric.STUDENT_FUNCTIONS.get(function)
    return bool(obs is not None and module and f"{module}.py " in obs.errors.get("*", ""))


def judge_submission(directory: str | Path, run: SandboxRun, reference_obs: dict[str, Observations],
                     plan: GradingPlan) -> Result:
    """Judge a sandbox run of a submission folder as ``plan`` says: its forbidden shortcuts are those read from
    its source and those the run-time tripwire saw; the result says which isolation layers were in force, what
    graded it, and which hidden checks did not run (:meth:`~grader.engine.plan.GradingPlan.not_run`). The run's
    observations are replaced by the :func:`admitted` ones, so the figures and reports drawn from it afterwards
    read what the judges read (and the arrays refused are let go)."""
    checks, not_run = plan.checks(), plan.not_run()
    run.observations = admitted(run.observations, reference_obs)  # what figures and reports read, too
    found = {f: m for f, m in shortcuts.scan_directory(directory).items() if not _did_not_load(f, run)}
    for function, names in run.shortcuts.items():
        if names and function not in found:
            found[function] = run_time_shortcut_message(function, names)
    result = judge(run.observations, reference_obs, checks, found)
    review = tuple(dict.fromkeys([*shortcuts.review_flags(directory), *run.notes]))
    return dataclasses.replace(result, isolation=_isolation(run), review=review, not_run=not_run,
                               environment=manifest.environment(plan.data, plan.secret))


def _isolation(run: SandboxRun) -> dict:
    """What a report says of the sandbox: its layers, and the time limits the submission ran under."""
    return {**run.layers.to_json(), **({"time_limits": run.limits} if run.limits else {})}

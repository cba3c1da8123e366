"""Hidden checks: a function's public checks, judged again on inputs the student has never seen.

The hidden probe of a function makes the same calls as its public probe (the same observation keys) on inputs
drawn from a seed that only the instructor's secret and the student's id give (:mod:`grader.engine.secret`). Each
public check's own judge then compares the student's hidden observations with the reference's on the same
inputs. The hidden check earns the share p_hidden · Σ_{checks c that hold} p_c / Σ_c p_c of its points.

Its message names the properties that fail there, never the inputs. Known mistakes are not consulted (they are
run on the public inputs); the cause is named by comparing with the public checks (:func:`explain`).
"""

from __future__ import annotations

import dataclasses

from grader.checks.common import ProbeFailed, Verdict, private_inputs

HEAD = "on hidden inputs of the same kinds (not shown)"  # how a failed hidden check's message begins
DEPENDS = "the code depends on the public inputs"  # the cause of a hidden check failing while the public ones hold


def judge(s, r, check, public: tuple = ()) -> Verdict:
    """Run each check of ``public`` on the hidden observations (with the hidden check's seed)."""
    total = sum(c.points for c in public)
    earned, failing = 0.0, []
    with private_inputs():
        for c in public:
            try:
                verdict = c.judge(s, r, dataclasses.replace(c, seed=check.seed))
                ok = verdict.passed
            except ProbeFailed as exc:
                ok, verdict = False, Verdict(0.0, str(exc))
            except Exception:  # an output no judge foresaw: the check does not hold
                ok, verdict = False, Verdict(0.0, "")
            if ok:
                earned += c.points
            else:
                earned += c.points * max(0.0, min(1.0, verdict.fraction))
                failing.append(c.id)
    if not failing:
        return Verdict(1.0, "ok")
    held = len(public) - len(failing)
    return Verdict(earned / total if total else 0.0,
                   f"{HEAD}, {_names(failing)} "
                   f"{'does' if len(failing) == 1 else 'do'} not hold ({held} of {len(public)} hold)")


def _names(ids: list[str]) -> str:
    return ", ".join(ids[:-1]) + (" and " if len(ids) > 1 else "") + ids[-1]


def explain(message: str, function: str, failed_public: list[str]) -> str:
    """A failed hidden check's message with its cause: the public checks of ``function`` that fail as well, or,
    when all of them pass, that the code depends on the public inputs."""
    if failed_public:
        return (f"{message}: same cause as {failed_public[0]}, which fails on the public inputs too; fix the public "
                "checks first")
    return (f"{message}, while every public check of {function} passes: {DEPENDS} "
            "(answers, shapes, sizes or keys written into it), or misses a case they do not cover; it must work "
            "for any input of the kind the exercise describes")

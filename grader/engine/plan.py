"""What one grading run needs, as one value built once: the :class:`GradingPlan`.

The options of a front end become a plan in one place (:meth:`grader.options.GradeOptions.plan`; the nbgrader
step, configured by nbgrader, builds its own from its settings), and everything downstream reads the plan instead
of loose parameters: the probes to run with their hidden counterparts and seeds, the dataset, the sandbox's
limits and required layers, the reference, the course file. ``grade``, ``grade batch`` (its local pool and its
Dask tasks: :meth:`GradingPlan.to_json` travels to the workers, never the secret), the pytest plugin and the
nbgrader step all grade with it (:func:`grader.grading.grade`), and the Gradescope autograder runs ``grade``.

A class is graded from one plan without a student; :meth:`GradingPlan.for_student` gives each student's, with
the seeds of their hidden probes drawn from the instructor's secret and their id.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Callable, Iterable

from grader import course_file, rubric
from grader.data import datasets
from grader.engine import sandbox
from grader.engine.secret import Secret


@dataclasses.dataclass(frozen=True)
class HiddenInputs:
    """The instructor's secret and the id of the student graded: what the hidden probes' seeds come from."""

    secret: Secret
    student: str

    def seeds(self, probes: Iterable[str]) -> dict[str, int]:
        """The seeds of the hidden probes of the functions whose own probe (named for the function) is in ``probes``:
        a function's hidden check runs beside its public checks, not for a training that merely uses it."""
        wanted = [p.name for p in rubric.HIDDEN_PROBES.values() if p.uses[0] in probes]
        return self.secret.seeds(self.student, wanted)


@dataclasses.dataclass(frozen=True)
class GradingPlan:
    """One grading run: ``probes`` (the public probes, and the figure probes when figures are drawn) on ``data``
    under ``limits``, refused without every confinement layer when ``require_isolation``, compared with
    ``reference`` (``None``, ``"library"`` or a solutions folder) under ``course``'s rubric. With ``secret`` and
    ``student`` the plan holds that student's hidden probes' ``seeds``; ``secret`` never leaves this process
    (:meth:`to_json` leaves it out)."""

    probes: tuple[str, ...] = tuple(rubric.PROBES)
    data: datasets.DataSpec = datasets.DIGITS
    limits: sandbox.Limits = sandbox.Limits()
    require_isolation: bool = False
    reference: str | Path | None = None
    course: course_file.Course = dataclasses.field(default_factory=course_file.current)
    student: str | None = None
    seeds: dict[str, int] = dataclasses.field(default_factory=dict)
    secret: Secret | None = dataclasses.field(default=None, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "probes", tuple(self.probes))
        if self.secret is not None and self.student is not None and not self.seeds:
            object.__setattr__(self, "seeds", HiddenInputs(self.secret, self.student).seeds(self.probes))

    def for_student(self, student: str, accept_code: bool = False) -> GradingPlan:
        """This plan for ``student``: their hidden probes' seeds (with a secret), and ``limits`` that grade their
        code beyond the policy for submitted code when the instructor accepted it (``accept_code``)."""
        limits = dataclasses.replace(self.limits, accept_code=True) if accept_code else self.limits
        return dataclasses.replace(self, student=student, seeds={}, limits=limits)

    def all_probes(self) -> list[str]:
        """What the child runs: the public probes and the hidden ones of :attr:`seeds`."""
        return [*self.probes, *self.seeds]

    def checks(self) -> list[rubric.Check]:
        """The checks judged: the public ones of :attr:`probes` for the dataset, and the hidden ones that have a
        seed."""
        return rubric.with_seeds(rubric.checks_for_data(self.data, [c for c in rubric.CHECKS
                                                                    if c.probe in self.probes]), self.seeds)

    def not_run(self) -> tuple[str, ...]:
        """The hidden checks of the graded functions that do not run for want of a seed (no secret)."""
        return tuple(c.id for c in rubric.HIDDEN_CHECKS if c.probe not in self.seeds and c.target in self.probes)

    def apply_course(self) -> None:
        """Make the plan's course the rubric of this process (a Dask worker's, say)."""
        course_file.apply(self.course)

    def to_json(self) -> str:
        """The plan as JSON, for a process that grades with it (a Dask worker); without the secret."""
        return json.dumps({"probes": list(self.probes), "data": self.data.to_json(),
                           "limits": dataclasses.asdict(self.limits), "require_isolation": self.require_isolation,
                           "reference": None if self.reference is None else str(self.reference),
                           "course": self.course.to_json(), "student": self.student, "seeds": self.seeds})

    @classmethod
    def from_json(cls, text: str) -> GradingPlan:
        d = json.loads(text)
        return cls(tuple(d["probes"]), datasets.DataSpec.from_json(d["data"]), sandbox.Limits(**d["limits"]),
                   d["require_isolation"], d["reference"], course_file.Course.from_json(d["course"]), d["student"],
                   {k: int(v) for k, v in d["seeds"].items()})


def probe(directory: str | Path, plan: GradingPlan,
          progress: Callable[[str, str], None] | None = None) -> sandbox.SandboxRun:
    """Run the plan's probes (its hidden ones too) on the submission in ``directory``, in a confined child."""
    return sandbox.run_probes(directory, plan.all_probes(), plan.limits, progress, plan.data, plan.require_isolation,
                              plan.seeds)

"""The terms of one submission's sandbox run: the limits its children run under (:class:`Limits`), what comes back
(:class:`SandboxRun`: observations per probe, the tripwire's findings, notes for review), the observations of a
probe that could not run (:func:`failed`), and the error of a sandbox that could not run at all
(:class:`SandboxError`).
"""

from __future__ import annotations

import dataclasses

from grader.course_file import DEFAULT_TIME_BUDGET, DEFAULT_TIME_LIMIT
from grader.engine import confine
from grader.errors import GraderError
from grader.observations import Observations

# What stands in a report for the review notes the code raised once the hidden probes' seeds were out: a note names
# a line and a file name the code chooses, so it could carry the hidden inputs into the student's report.
HIDDEN_NOTE = ("the code reached for something noted for review while its hidden checks ran (not shown: it could "
               "reveal the hidden inputs)")


@dataclasses.dataclass(frozen=True)
class Limits:
    """Resource limits of one submission's child process."""

    probe_seconds: float = DEFAULT_TIME_LIMIT   # wall time of one probe: a function's checks, or one training task
    import_seconds: float = DEFAULT_TIME_LIMIT  # wall time of importing one module (and of starting the child)
    memory_bytes: int = 8 << 30                 # address space (JAX on the CPU runs in 8 GiB)
    cpu_seconds: int = 3600                     # CPU time of one child
    output_bytes: int = 16 << 20                # the largest file the child may write, its stdout/stderr included
    lanes: int = 1                              # children probing this submission side by side (see idle_lanes)
    require_containment: bool = False           # refuse to run without a layer that keeps private files out of reach
    allow_unconfined: bool = False              # the instructor's explicit leave to grade a secret's probes without one
    accept_code: bool = False                   # grade code beyond the code policy as it is (read by the instructor)
    time_budget: float = DEFAULT_TIME_BUDGET    # wall time of the whole submission: every child, import and probe
    home_bytes: int = 256 << 20                 # the child's writable home, a tmpfs of this size (with namespaces)
    home_files: int = 8192                      # ... and of this many files and folders
    processes: int = 1024                       # processes and threads of one submission (with the user layer)

    def budget_text(self) -> str:
        """How long a submission may take, for a report: 'time budget 600 s (60 s per import, 60 s per check)'."""
        return (f"time budget {self.time_budget:g} s ({self.import_seconds:g} s for the imports, "
                f"{self.probe_seconds:g} s per check)")


@dataclasses.dataclass
class SandboxRun:
    """What came back: observations per probe, the forbidden routines the tripwire saw each student function
    call, notes for an instructor's review, and the confinement layers that were in force."""

    observations: dict[str, Observations]
    shortcuts: dict[str, list[str]]
    notes: list[str]
    layers: confine.Layers
    limits: str = ""          # the time limits it ran under, for a report (:meth:`Limits.budget_text`)

    def add_findings(self, shortcuts: dict[str, list[str]], notes: list[str]) -> None:
        """Add another child's tripwire hits and review notes to this run's, without repeats."""
        for function, names in shortcuts.items():
            mine = self.shortcuts.setdefault(function, [])
            mine += [n for n in names if n not in mine]
        self.notes += [n for n in notes if n not in self.notes]


class SandboxError(GraderError, RuntimeError):
    """The sandbox itself could not run (not the student's fault): the grader reports it and stops."""



def failed(message: str) -> Observations:
    """The observations of a probe that could not run: every check fails with ``message``."""
    obs = Observations()
    obs.fail_all(message)
    return obs

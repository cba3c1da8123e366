"""The grader's errors: every way the grader itself cannot do what it was asked, under one root.

:class:`GraderError` is never the student's fault: a front end's entry point shows its message on one line and
stops — ``grade`` (:func:`grader.cli.main`, the only place that turns one into exit status 2, prefixed with the
command that raised it, :attr:`GraderError.command`), the pytest plugin (a usage error) and the nbgrader step
(the notebook's grades cleared). Everything below the front ends raises these and never prints or exits.

This module imports nothing of the kit's, so the data, the checks and the engine raise them without reaching
up to a front end. What a student's code does wrong is not an error here: it becomes an observation's failure
message (:class:`grader.observations.ProbeFailed`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping


class GraderError(Exception):
    """The grader cannot run as asked (not the student's fault). ``command`` is who says so when ``grade`` shows
    the message (``grade: ...``, ``grade batch: ...``)."""

    command = "grade"

    def said_by(self, command: str) -> GraderError:
        """This error, shown as ``command``'s (``grade render: ...``)."""
        self.command = command
        return self


class CannotRun(GraderError):
    """An option, a file or the machine does not let the grader run: the message says which and why."""

    def __init__(self, message: str = "", command: str | None = None):
        super().__init__(message)
        if command is not None:
            self.command = command


class BrokenReference(CannotRun, RuntimeError):
    """The reference does not load, or raises on a probe: the grader's fault, never points the student loses.
    The ``grade`` command reports it on one line and exits with status 2."""


class CourseFileError(GraderError):
    """The course file cannot be used as it is: the message names the file, the key and what is allowed."""


class SecretError(GraderError):
    """The instructor's secret cannot be used: the message says why."""


class DatasetUnavailable(GraderError, RuntimeError):
    """A dataset's files are missing or fail their checksum and could not be fetched.

    ``problems`` maps each missing or bad file name to what is wrong with it; ``directory`` is where the
    files were looked for.
    """

    def __init__(self, message: str, problems: Mapping[str, str], directory: Path):
        super().__init__(message)
        self.problems = dict(problems)
        self.directory = directory


class IdxError(GraderError, ValueError):
    """A file is not a valid IDX file of the expected kind; the message names the file and the problem."""

    def __init__(self, path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class SandboxGradeError(GraderError, RuntimeError):
    """The sandbox could not grade a notebook (nbgrader's step): not the student's doing, and no points may be
    recorded."""

"""The pytest front end: ``pytest exercises/`` runs one test per visible rubric check.

The exercise folder's test module parametrizes a single test over :func:`visible_check_ids` and asks the
``grading`` fixture to judge each check. ``--submission DIR`` grades another directory with the same tests
(``pytest exercises/ --submission solutions/``); ``--reference DIR|library`` picks the reference. At the end
the terminal summary prints ``Score: X/Y`` with the points of each function.

Probes run lazily, one per function or training task, so ``pytest exercises/ -k softmax`` only runs softmax.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from . import grading as _grading
from . import rubric, submission
from .result import CheckResult, Result, score_table

_SESSIONS = pytest.StashKey[dict]()


def visible_check_ids() -> list[str]:
    return [c.id for c in rubric.checks_for(visible_only=True)]


def pytest_addoption(parser):
    group = parser.getgroup("grading", "deep-learning basics grader")
    group.addoption("--submission", default=None, metavar="DIR",
                    help="grade the exercise modules in DIR instead of those beside the tests")
    group.addoption("--reference", default=None, metavar="DIR|library",
                    help="reference solutions directory, or 'library' for the trusted library functions")


def pytest_configure(config):
    config.stash[_SESSIONS] = {}


class GradingSession:
    """One submission graded against one reference; observations are made once per probe."""

    def __init__(self, directory: Path, reference):
        self.directory = directory
        self.reference = reference
        self.functions, self.errors = submission.load_functions(directory)
        self.observations = {}
        self.results: dict[str, CheckResult] = {}

    def _observe(self, probes) -> None:
        todo = [p for p in probes if p not in self.observations]
        self.observations.update(_grading.observe(self.functions, self.errors, todo))

    def check(self, check_id: str) -> CheckResult:
        """Judge one check (and the checks of the parts a training check uses, to name them on failure)."""
        check = rubric.BY_ID[check_id]
        probes = [check.probe]
        if check.target not in rubric.STUDENT_FUNCTIONS:
            probes += list(rubric.PROBES[check.probe].uses)
        self._observe(probes)
        ref = _grading.reference_observations(self.reference, probes)
        checks = [c for c in rubric.CHECKS if c.probe in probes]
        for r in _grading.judge(self.observations, ref, checks).checks:
            if r.id == check_id:
                self.results[check_id] = r
                return r
        raise KeyError(check_id)

    def result(self) -> Result:
        return Result(tuple(self.results[c.id] for c in rubric.CHECKS if c.id in self.results))


@pytest.fixture
def grading(request) -> GradingSession:
    """The grading session for this run's submission (``--submission``, else the test file's folder)."""
    option = request.config.getoption("submission")
    directory = Path(option).resolve() if option else Path(request.module.__file__).resolve().parent
    reference = request.config.getoption("reference")
    sessions = request.config.stash[_SESSIONS]
    key = (directory, reference)
    if key not in sessions:
        sessions[key] = GradingSession(directory, reference)
    return sessions[key]


def assert_check_passes(grading: GradingSession, check_id: str) -> None:
    """Fail the calling test with the check's feedback unless the check earned full points."""
    r = grading.check(check_id)
    if not r.passed:
        pytest.fail(f"{r.id} ({r.points:g}/{r.max_points:g} points): {r.message}", pytrace=False)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    for (directory, _), session in config.stash.get(_SESSIONS, {}).items():
        if not session.results:
            continue
        terminalreporter.section(f"grading {directory.name}/")
        terminalreporter.write_line(score_table(session.result()))

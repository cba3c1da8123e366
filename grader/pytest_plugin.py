"""The pytest front end: ``pytest exercises/`` runs one test per visible rubric check.

The exercise folder's test module parametrizes a single test over :func:`visible_check_ids` and asks the
``grading`` fixture to judge each check. ``--submission DIR`` grades another directory with the same tests
(``pytest exercises/ --submission solutions/``); ``--reference DIR|library`` picks the reference. At the end
the terminal summary prints ``Score: X/Y`` with the points of each function; with ``--report-dir DIR`` the
training curves of the graded sections are drawn there too, as ``grade --report-dir`` draws them.

Grading goes through the same sandboxed child and judges as the ``grade`` command, so both give the same
points. Only the probes of the selected tests run: ``pytest exercises/ --only softmax`` only probes softmax
(``-k`` selects by check id too, but ``-k softmax`` also matches the softmax regression training, which tests
``cross_entropy``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from grader import grading as _grading

from grader.engine import references
from grader.reports import report
from grader import rubric
from grader.engine import sandbox
from grader.cli import only_probes
from grader.reports.result import CheckResult, Result

_SESSIONS = pytest.StashKey[dict]()


def visible_check_ids() -> list[str]:
    return [c.id for c in rubric.checks_for(visible_only=True)]


def pytest_addoption(parser):
    group = parser.getgroup("grading", "deep-learning basics grader")
    group.addoption("--submission", default=None, metavar="DIR",
                    help="grade the exercise modules in DIR instead of those beside the tests")
    group.addoption("--reference", default=None, metavar="DIR|library",
                    help="reference solutions directory, or 'library' for the trusted library functions")
    group.addoption("--time-limit", type=float, default=60.0, metavar="SECONDS",
                    help="wall time for one function's checks or one training task (default 60)")
    group.addoption("--report-dir", default=None, metavar="DIR",
                    help="also draw the training curves (yours beside the reference's) and report.md into DIR")
    group.addoption("--only", default=None, metavar="FUNCTIONS", type=only_probes,
                    help="comma-separated functions: run only their checks and the trainings that use them "
                         "(--only cross_entropy runs the softmax regression training too)")


def _check_of(item) -> rubric.Check | None:
    return rubric.BY_ID.get(getattr(getattr(item, "callspec", None), "params", {}).get("check_id"))


def pytest_collection_modifyitems(config, items):
    """``--only``: deselect the grading tests whose probe does not grade those functions (as ``grade --only``)."""
    probes = config.getoption("only")
    if not probes:
        return
    keep, drop = [], []
    for item in items:
        check = _check_of(item)
        (drop if check is not None and check.probe not in probes else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_configure(config):
    config.stash[_SESSIONS] = {}


class GradingSession:
    """One submission graded against one reference, through the same sandbox and judges as ``grade``.

    The first check asks for the probes of every selected test at once, so one child process serves the run.
    """

    def __init__(self, directory: Path, reference, probes: list[str], limits, report_dir: str | None = None):
        self.directory, self.reference, self.limits, self.report_dir = directory, reference, limits, report_dir
        self.probes = rubric.with_figure_probes(probes) if report_dir else probes
        self._result: dict[str, CheckResult] | None = None
        self.results: dict[str, CheckResult] = {}
        self.observations = {}

    def check(self, check_id: str) -> CheckResult:
        if self._result is None:
            result, run = _grading.grade_submission(self.directory, self.reference, self.limits, probes=self.probes)
            self._result = {c.id: c for c in result.checks}
            self.observations = run.observations
        r = self._result[check_id]
        self.results[check_id] = r
        return r

    def result(self) -> Result:
        checks = tuple(self.results[c.id] for c in rubric.CHECKS if c.id in self.results)
        graded = {c.target for c in checks}  # a student's run has no secret: their hidden checks are not run
        return Result(checks, not_run=tuple(c.id for c in rubric.HIDDEN_CHECKS if c.target in graded))

    def write_figures(self) -> Path:
        """Draw the graded trainings' curves and report.md into ``report_dir`` (as ``grade --report-dir``)."""
        from grader.reports import figures

        reference = references.observations(self.reference, self.probes)
        return figures.write_report_dir(self.report_dir, self.result(), self.observations, reference)["report"]


def _selected_probes(session) -> list[str]:
    """The probes that the selected grading tests need (a training check also needs its parts' probes)."""
    wanted = set()
    for item in session.items:
        check = _check_of(item)
        if check is not None:
            wanted.add(check.probe)
            if check.target not in rubric.STUDENT_FUNCTIONS:
                wanted.update(rubric.PROBES[check.probe].uses)
    return [p for p in rubric.PROBES if p in wanted]


@pytest.fixture
def grading(request) -> GradingSession:
    """The grading session for this run's submission (``--submission``, else the test file's folder)."""
    option = request.config.getoption("submission")
    directory = Path(option).resolve() if option else Path(request.module.__file__).resolve().parent
    reference = request.config.getoption("reference")
    sessions = request.config.stash[_SESSIONS]
    key = (directory, reference)
    if key not in sessions:
        seconds = request.config.getoption("time_limit")
        limits = dataclasses.replace(sandbox.Limits(), probe_seconds=seconds, import_seconds=seconds,
                                     lanes=sandbox.idle_lanes())
        sessions[key] = GradingSession(directory, reference, _selected_probes(request.session), limits,
                                       request.config.getoption("report_dir"))
    return sessions[key]


def assert_check_passes(grading: GradingSession, check_id: str) -> None:
    """Fail the calling test with the check's feedback unless the check earned full points."""
    r = grading.check(check_id)
    if not r.passed:
        pytest.fail(f"{r.id} ({r.points:g}/{r.max_points:g} points): {r.message}", pytrace=False)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """The score block comes last, below pytest's list of failed tests (the hook wraps pytest's own summary)."""
    yield
    for (directory, _), session in config.stash.get(_SESSIONS, {}).items():
        if not session.results:
            continue
        terminalreporter.section(f"grading {directory.name}/")
        terminalreporter.write_line(report.summary(session.result()))
        if session.report_dir:
            try:
                terminalreporter.write_line(f"figures and report: {session.write_figures()}")
            except OSError as exc:
                terminalreporter.write_line(f"cannot write the figures into {session.report_dir}: "
                                            f"{exc.strerror or exc}", red=True)

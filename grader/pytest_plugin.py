"""The pytest front end: ``pytest exercises/`` runs one test per visible rubric check.

The plugin is opt-in: ``exercises/conftest.py`` loads it (``pytest_plugins = ["grader.pytest_plugin"]``), so
installing the kit changes no other pytest run. Its options are ``grade``'s (:mod:`grader.options`), prefixed
``--dl-``: ``--dl-submission DIR`` grades another directory with the same tests (``pytest exercises/
--dl-submission solutions/``); ``--dl-reference DIR|library`` picks the reference, ``--dl-dataset`` and
``--dl-data-dir`` the classification set, ``--dl-time-limit`` the wall time per function. The exercise folder's
test module parametrizes a single test over :func:`visible_check_ids` and asks the ``grading`` fixture to judge
each check. At the end the terminal summary prints ``Score: X/Y`` with the points of each function; with
``--dl-report-dir DIR`` the training curves of the graded sections are drawn there too, as ``grade
--report-dir`` draws them.

Grading goes through the same sandboxed child and judges as the ``grade`` command, so both give the same
points; a check's feedback, which quotes the student's code (its exception, its values), reaches the terminal
as inert text (:func:`grader.reports.inert.text`). Only the probes of the selected tests run: ``pytest
exercises/ --dl-only softmax`` only probes softmax (``-k`` selects by check id too, but ``-k softmax`` also
matches the softmax regression training, which tests ``cross_entropy``). Nothing heavy is imported with the
plugin: JAX comes with the first hook that needs the rubric, so ``pytest exercises/ --help`` does not start it.

The first grading test of a run whose compilation cache is not ready for this version of the kit fills it, once,
with trusted code (:func:`grader.engine.compile_cache.fill_if_needed`), saying so in one line on stderr: a student
never runs ``grade warm``, and every later run starts faster.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grader import options
from grader.errors import CannotRun, GraderError
from grader.options import GradeOptions
from grader.reports import inert

_SESSIONS = pytest.StashKey[dict]()


def visible_check_ids() -> list[str]:
    from grader import rubric

    return [c.id for c in rubric.checks_for(visible_only=True)]


def pytest_addoption(parser):
    options.add_to_pytest(parser)
    parser.getgroup("grading").addoption(
        options.pytest_flag("submission"), dest=options.pytest_dest("submission"), default=None, metavar="DIR",
        help="grade the exercise modules in DIR instead of those beside the tests")


def _check_of(item):
    """The rubric check a grading test judges (None for any other test)."""
    from grader import rubric

    return rubric.BY_ID.get(getattr(getattr(item, "callspec", None), "params", {}).get("check_id"))


def pytest_collection_modifyitems(config, items):
    """``--dl-only``: deselect the grading tests whose probe does not grade those functions (as ``grade --only``)."""
    probes = config.getoption(options.pytest_dest("only"))
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


def _stop(exc: Exception):
    """The grader's own failure (an option it cannot use, a broken reference): stop the run with one line,
    rather than fail the student's tests."""
    pytest.exit(f"grading cannot run: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)


class GradingSession:
    """One submission graded as ``opts`` ask, through the same sandbox and judges as ``grade``.

    The first check asks for the probes of every selected test at once, so one child process serves the run.
    """

    def __init__(self, directory: Path, opts: GradeOptions, probes: list[str]):
        from grader.engine import sandbox

        self.directory, self.report_dir = directory, opts.report_dir
        # the selected tests' probes; a student's run has no secret, so their hidden checks are reported as not run
        self.plan = opts.plan(directory, probes=probes, hidden=False, lanes=sandbox.idle_lanes())
        self._result = None
        self.results = {}
        self.observations = {}

    def check(self, check_id: str):
        """The :class:`~grader.reports.result.CheckResult` of ``check_id`` (the submission is graded on the first
        call)."""
        if self._result is None:
            from grader import grading

            try:
                self._result, run = grading.grade(self.directory, self.plan)
            except GraderError as exc:
                _stop(exc)
            self._by_id = {c.id: c for c in self._result.checks}
            self.observations = run.observations
        r = self._by_id[check_id]
        self.results[check_id] = r
        return r

    def same_as(self, check_id: str) -> str | None:
        """The earlier check of the same function that failed with the same message (a forbidden call, a stub, a
        crash at import), so its test refers to it instead of repeating it; ``None`` otherwise."""
        return self._result.repeats().get(check_id)

    def result(self):
        """The :class:`~grader.reports.result.Result` of the checks run so far, with what ``grade``'s says beside
        them (isolation, review notes, environment, the hidden checks not run)."""
        import dataclasses

        from grader import rubric

        checks = tuple(self.results[c.id] for c in rubric.CHECKS if c.id in self.results)
        shown = {c.target for c in checks}  # the plan's hidden checks not run, of the functions shown
        return dataclasses.replace(self._result, checks=checks,
                                   not_run=tuple(i for i in self._result.not_run if rubric.BY_ID[i].target in shown))

    def write_figures(self) -> Path:
        """Draw the graded trainings' curves and report.md into ``report_dir`` (as ``grade --report-dir``)."""
        from grader.engine import references
        from grader.reports import figures

        reference = references.observations(self.plan.reference, list(self.plan.probes), self.plan.data)
        return figures.write_report_dir(self.report_dir, self.result(), self.observations, reference,
                                        self.plan.data)["report"]


def _selected_probes(session) -> list[str]:
    """The probes that the selected grading tests need (a training check also needs its parts' probes)."""
    from grader import rubric

    wanted = set()
    for item in session.items:
        check = _check_of(item)
        if check is not None:
            wanted.add(check.probe)
            if check.target not in rubric.STUDENT_FUNCTIONS:
                wanted.update(rubric.PROBES[check.probe].uses)
    return [p for p in rubric.PROBES if p in wanted]


def _fill_compile_cache(config, opts: GradeOptions) -> None:
    """Fill the compilation cache if this is its first run, its notice on stderr past pytest's capture (on a line
    of its own, after the test file's name)."""
    import sys

    from grader.engine import compile_cache

    capture = config.pluginmanager.getplugin("capturemanager")

    def say(line: str) -> None:
        if capture is None:
            print(line, file=sys.stderr, flush=True)
            return
        with capture.global_and_fixture_disabled():
            print(f"\n{line}", file=sys.stderr, flush=True)
    compile_cache.fill_if_needed(opts.data_spec().to_json(), say)


@pytest.fixture
def grading(request) -> GradingSession:
    """The grading session for this run's submission (``--dl-submission``, else the test file's folder)."""
    option = request.config.getoption(options.pytest_dest("submission"))
    directory = Path(option).resolve() if option else Path(request.module.__file__).resolve().parent
    sessions = request.config.stash[_SESSIONS]
    if directory not in sessions:
        try:
            opts = GradeOptions.from_pytest(request.config).with_course(request.config.invocation_params.dir,
                                                                        directory.parent, directory)
            _fill_compile_cache(request.config, opts)
            sessions[directory] = GradingSession(directory, opts, _selected_probes(request.session))
        except CannotRun as exc:
            _stop(exc)
    return sessions[directory]


def assert_check_passes(grading: GradingSession, check_id: str) -> None:
    """Fail the calling test with the check's feedback unless the check earned full points."""
    r = grading.check(check_id)
    if not r.passed:
        first = grading.same_as(check_id)
        message = f"the same as {first}" if first else r.message
        pytest.fail(inert.text(f"{r.id} ({r.points:g}/{r.max_points:g} points): {message}", indent="  "),
                    pytrace=False)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """The score block comes last, below pytest's list of failed tests (the hook wraps pytest's own summary)."""
    yield
    for directory, session in config.stash.get(_SESSIONS, {}).items():
        if not session.results:
            continue
        from grader.reports import report

        terminalreporter.section(inert.text(f"grading {directory.name}/").replace("\n", " "))
        terminalreporter.write_line(report.summary(session.result()))
        if session.report_dir:
            try:
                terminalreporter.write_line(f"figures and report: {session.write_figures()}")
            except OSError as exc:
                terminalreporter.write_line(f"cannot write the figures into {session.report_dir}: "
                                            f"{exc.strerror or exc}", red=True)

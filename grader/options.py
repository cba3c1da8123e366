"""The grading options, declared once for both front ends: the ``grade`` command and the pytest plugin.

:data:`OPTIONS` is the table: each option's name, its argparse keywords and the front ends that take it (``grade PATH``,
``grade batch``, ``pytest``; ``grade warm`` takes the dataset's). :func:`add_to_argparse` adds them to a command's
parser as ``--NAME``; :func:`add_to_pytest` adds them to pytest's, prefixed (``--dl-NAME``) so that the plugin's options
never clash with another plugin's or with a project's own. Either front end's parsed values become one
:class:`GradeOptions`, whose methods give what grading needs: the sandbox's limits, the reference, the dataset
(its files checked), the instructor's secret and the hidden inputs, the probes to run.

Nothing heavy is imported here (no JAX): the pytest plugin loads this module at start-up.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any, Callable

from grader.course_file import DEFAULT_TIME_BUDGET, DEFAULT_TIME_LIMIT
from grader.errors import CannotRun

PYTEST_PREFIX = "dl-"       # the pytest plugin's options are --dl-reference, --dl-only, ...

GRADE, BATCH, PYTEST, WARM = "grade", "batch", "pytest", "warm"
FRONT_ENDS = (GRADE, BATCH, PYTEST)  # the grading front ends; ``grade warm`` takes the dataset options only


def only_probes(text: str) -> list[str]:
    """``--only``'s comma-separated functions as the probes that grade them (both front ends parse it so)."""
    from grader import rubric

    names = [t.strip() for t in text.split(",") if t.strip()]
    try:
        return rubric.probes_for_functions(names)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


@dataclasses.dataclass(frozen=True)
class Option:
    """One row of the table: ``--NAME`` with argparse's keywords, taken by the front ends in ``where``."""

    name: str
    keywords: Callable[[], dict[str, Any]]   # called when the option is added (help texts may import a module)
    where: tuple[str, ...] = FRONT_ENDS

    @property
    def dest(self) -> str:
        return self.name.replace("-", "_")


def _dataset() -> dict:
    from grader import data

    return dict(default="digits", choices=sorted(data.NAMES),
                help="dataset of the classifier trainings: the embedded digits (default), or Fashion-MNIST (the "
                     "book's; its files are downloaded into the cache when online, or read from the data-dir folder)")


def _data_dir() -> dict:
    from grader import data

    return dict(default=None, metavar="DIR",
                help="a directory holding the four Fashion-MNIST .gz files, placed by hand (nothing is downloaded); "
                     "default: the user cache, or $" + data.DATA_DIR_ENV)


def _secret_file() -> dict:
    from grader.engine import secret

    return dict(default=None, metavar="FILE",
                help="the instructor's secret (default: $" + secret.ENV + "): also run the hidden checks, on inputs "
                     "drawn from the secret and the student's id; keep it out of every student repository")


OPTIONS: tuple[Option, ...] = (
    Option("reference", lambda: dict(
        default=None, metavar="DIR|library",
        help="reference solutions (default: the kit's solutions/ when present, else the trusted library functions)")),
    Option("dataset", _dataset, FRONT_ENDS + (WARM,)),
    Option("data-dir", _data_dir, FRONT_ENDS + (WARM,)),
    Option("time-limit", lambda: dict(
        type=float, default=DEFAULT_TIME_LIMIT, metavar="SECONDS",
        help=f"wall time for one function's checks or one training task (default {DEFAULT_TIME_LIMIT:g})")),
    Option("time-budget", lambda: dict(
        type=float, default=DEFAULT_TIME_BUDGET, metavar="SECONDS",
        help=f"wall time for a whole submission, its imports, checks, trainings and restarts included: what "
             f"remains when it runs out is not checked (default {DEFAULT_TIME_BUDGET:g})")),
    Option("course", lambda: dict(
        default=None, metavar="FILE",
        help="the course file (grading.toml: points, thresholds, tolerances, limits, dataset, forbidden routines); "
             "default: grading.toml in the current folder when there is one, else the kit's rubric")),
    Option("only", lambda: dict(
        type=only_probes, default=None, metavar="FUNCTIONS",
        help="grade only these functions (comma-separated), with the trainings that use them (cross_entropy "
             "brings the softmax regression training)")),
    Option("require-isolation", lambda: dict(
        action="store_true", default=False,
        help="refuse to grade unless every confinement layer is available: Landlock with TCP and "
             "signal scoping, user/network/PID/mount namespaces, seccomp")),
    Option("require-containment", lambda: dict(
        action="store_true", default=False,
        help="refuse to grade unless Landlock or a dedicated unprivileged user keeps the secret, private "
             "solutions and other submissions out of the graded code's reach (always so with a secret)"),
        (GRADE, BATCH)),
    Option("allow-unconfined", lambda: dict(
        action="store_true", default=False,
        help="grade with a secret even where neither Landlock nor a dedicated user is available (then the graded "
             "code can read whatever the grading user can)"), (GRADE, BATCH)),
    Option("accept-code", lambda: dict(
        nargs="?", const="*", default=None, metavar="STUDENTS",
        help="grade code that goes beyond the policy for submitted code (reflection, import-time code) as it is, "
             "after reading it: every submission, or only these students (comma-separated folder names or ids)"),
           (GRADE, BATCH)),
    Option("secret-file", _secret_file, (GRADE, BATCH)),
    Option("report-dir", lambda: dict(
        default=None, metavar="DIR",
        help="also draw the training curves (the student's beside the reference's), the polynomial figure and "
             "report.md linking them into DIR"), (GRADE, PYTEST)),
    Option("quiet", lambda: dict(action="store_true", default=False, help="no progress on stderr"), (GRADE, BATCH)),
)


def add_to_argparse(parser: argparse.ArgumentParser, front_end: str = GRADE) -> None:
    """Add the options ``front_end`` (``grade``, ``batch`` or ``warm``) takes to a command's parser, as ``--NAME``."""
    for option in OPTIONS:
        if front_end in option.where:
            parser.add_argument(f"--{option.name}", dest=option.dest, **option.keywords())


def pytest_flag(name: str) -> str:
    """The pytest plugin's spelling of option ``name``: ``--dl-NAME``."""
    return f"--{PYTEST_PREFIX}{name}"


def pytest_dest(name: str) -> str:
    """Where pytest keeps option ``name`` (``config.getoption(pytest_dest("only"))``)."""
    return (PYTEST_PREFIX + name).replace("-", "_")


def add_to_pytest(parser) -> None:
    """Add the options the pytest plugin takes to pytest's parser (``pytest_addoption``), prefixed."""
    group = parser.getgroup("grading", "deep-learning basics grader (options of grade, prefixed --dl-)")
    for option in OPTIONS:
        if PYTEST in option.where:
            group.addoption(pytest_flag(option.name), dest=pytest_dest(option.name), **option.keywords())


@dataclasses.dataclass(frozen=True)
class GradeOptions:
    """What one grading run was asked for, whichever front end parsed it (options it does not take keep their
    defaults)."""

    reference: str | None = None
    dataset: str = "digits"
    data_dir: str | None = None
    time_limit: float = DEFAULT_TIME_LIMIT
    time_budget: float = DEFAULT_TIME_BUDGET
    course: str | None = None                    # --course FILE
    only: tuple[str, ...] | None = None          # probes, as --only's parser gives them
    require_isolation: bool = False
    require_containment: bool = False
    allow_unconfined: bool = False
    accept_code: str | None = None               # "*", or comma-separated student ids
    secret_file: str | None = None
    report_dir: str | None = None
    quiet: bool = False
    flag_prefix: str = "--"                      # how the options are spelled in messages

    @classmethod
    def _from(cls, value: Callable[[Option], Any], **extra) -> GradeOptions:
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {o.dest: value(o) for o in OPTIONS if o.dest in fields}
        values = {k: v for k, v in values.items() if v is not None}  # not taken (or not given): the default
        if values.get("only") is not None:
            values["only"] = tuple(values["only"])
        return cls(**values, **extra)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> GradeOptions:
        """From a command's parsed arguments (:func:`add_to_argparse`)."""
        return cls._from(lambda o: getattr(args, o.dest, None))

    @classmethod
    def from_pytest(cls, config) -> GradeOptions:
        """From pytest's configuration (:func:`add_to_pytest`)."""
        return cls._from(lambda o: config.getoption(pytest_dest(o.name)) if PYTEST in o.where else None,
                         flag_prefix="--" + PYTEST_PREFIX)

    def with_course(self, *folders) -> GradeOptions:
        """Find the course file (``--course``, else ``grading.toml`` in the first of ``folders`` that has one, default
        the current folder), make it the rubric of this process (:func:`grader.course_file.apply`), and return these
        options with its limits and dataset where the command line left the defaults. :class:`CannotRun` when the
        file cannot be used."""
        from grader import course_file as course

        try:
            found = course.find(self.course, *folders)
        except course.CourseFileError as exc:
            raise CannotRun(str(exc)) from None
        course.apply(found)
        changes = {}
        if found.time_limit and self.time_limit == DEFAULT_TIME_LIMIT:
            changes["time_limit"] = found.time_limit
        if found.time_budget and self.time_budget == DEFAULT_TIME_BUDGET:
            changes["time_budget"] = found.time_budget
        if found.dataset and self.dataset == "digits":
            changes["dataset"] = found.dataset
        return dataclasses.replace(self, **changes)

    def probes(self) -> list[str]:
        """The probes to run: ``--only``'s, or every probe, and the figure probes with a report directory."""
        from grader import rubric

        probes = list(rubric.PROBES) if self.only is None else list(self.only)
        return rubric.with_figure_probes(probes) if self.report_dir else probes

    def limits(self, **changes):
        """The sandbox's limits with the time limit and the containment asked for (and ``changes``, e.g.
        ``lanes``)."""
        from grader.engine import sandbox

        return dataclasses.replace(sandbox.Limits(), probe_seconds=self.time_limit, import_seconds=self.time_limit,
                                   time_budget=self.time_budget,
                                   require_containment=self.require_containment,
                                   allow_unconfined=self.allow_unconfined, **changes)

    def accepts_code(self, student: str) -> bool:
        """Whether the instructor accepted ``student``'s code beyond the policy for submitted code (--accept-code)."""
        if self.accept_code is None:
            return False
        return self.accept_code == "*" or student in {s.strip() for s in self.accept_code.split(",")}

    def reference_spec(self) -> str | Path | None:
        """The reference as grading takes it: ``None`` (the default), ``"library"``, or a directory's path."""
        if self.reference in (None, "library"):
            return self.reference
        path = Path(self.reference)
        if not path.is_dir():
            raise CannotRun(f"reference {self.reference} is not a directory")
        return path.resolve()

    def data_spec(self):
        """The dataset the options name, its files checked (and fetched into the cache when allowed)."""
        from grader.data import datasets, idx

        if self.data_dir and self.dataset == "digits":
            print(f"grade: {self.flag_prefix}data-dir is ignored for the digits set (it ships with scikit-learn)",
                  file=sys.stderr)
        data_dir = str(Path(self.data_dir).resolve()) if self.data_dir and self.dataset != "digits" else None
        try:
            return datasets.DataSpec(self.dataset, data_dir).resolve()
        except (datasets.DatasetUnavailable, idx.IdxError) as exc:
            raise CannotRun(str(exc)) from None

    def secret(self, submission: Path):
        """The instructor's secret the options (or the environment) give, refused where graded code could read
        it (inside ``submission``); ``None`` without one."""
        from grader.engine import secret

        try:
            secret.refuse_readable_by_children(self.secret_file, submission)
            return secret.Secret.find(self.secret_file)
        except secret.SecretError as exc:
            raise CannotRun(str(exc)) from None

    def plan(self, submission: Path, student: str | None = None, probes: list[str] | None = None,
             hidden: bool = True, **limits):
        """The :class:`~grader.engine.plan.GradingPlan` these options make, the one way every front end turns its
        options into what grading needs: ``probes`` (default :meth:`probes`; with a report directory, the figure
        probes too), the dataset, the reference, the sandbox's limits (with ``limits``' changes, e.g. ``lanes``),
        the course file in force, and with ``hidden`` the instructor's secret (refused inside ``submission``) for
        ``student`` (``None``: a class's plan, :meth:`~grader.engine.plan.GradingPlan.for_student` gives each
        student's). Call it after :meth:`with_course`."""
        from grader import rubric
        from grader.engine.plan import GradingPlan

        if probes is not None:
            probes = rubric.with_figure_probes(probes) if self.report_dir else list(probes)
        reference, data = self.reference_spec(), self.data_spec()  # in this order: the first problem is said
        secret = self.secret(submission) if hidden else None
        return GradingPlan(probes=self.probes() if probes is None else probes, data=data, limits=self.limits(**limits),
                           require_isolation=self.require_isolation, reference=reference, student=student,
                           secret=secret)

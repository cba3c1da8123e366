"""The ``grade`` command.

    grade PATH [--format text|json|markdown|junit|gradescope] [--output FILE] [--fail-under SCORE]
               [--report-dir DIR] [--reference DIR|library] [--dataset digits|fashion-mnist]
               [--data-dir DIR] [--time-limit SECONDS] [--quiet] [--only FUNCTIONS]
               [--secret-file FILE] [--student-id ID]
    grade batch DIR [--jobs N] [--out DIR] [same options but the report ones]
    grade release DIR [--force]          a student template repository with its autograding workflow
    grade render REPORT.json --format F  re-render a saved JSON report (markdown, junit, gradescope, classroom)
    grade warm [--dataset D]             fill the compilation cache with trusted code (children read it)
    grade gradescope DIR [--secret-file FILE] [--force]   a Gradescope autograder (setup.sh, run_autograder, the kit)

``grade PATH`` grades one directory laid out like ``exercises/``. The exit status is 0 whenever grading ran,
whatever the score (1 under ``--fail-under`` when the score is lower); 2 when the grader itself could not run
(a path that is not a directory, a dataset whose files are missing or fail their checksum).
Progress goes to stderr; stdout carries only the report. ``--report-dir DIR`` also writes the training
curves (the student's run beside the reference's), the polynomial under/over-fitting figure and
``report.md`` linking them.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from grader.engine import compile_cache, references, sandbox, secret

from grader.data import datasets, idx

from grader.reports import report

from grader import rubric


class Progress:
    """Progress on stderr: one updating line on a terminal, plain lines otherwise, nothing when quiet."""

    def __init__(self, enabled: bool, stream=sys.stderr):
        self.enabled, self.stream = enabled, stream
        self.tty = enabled and stream.isatty()
        self.start = time.monotonic()

    def show(self, text: str) -> None:
        if not self.enabled:
            return
        line = f"[{time.monotonic() - self.start:5.1f}s] {text}"
        if self.tty:
            self.stream.write("\r\033[K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.tty:
            self.stream.write("\r\033[K")
            self.stream.flush()


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reference", default=None, metavar="DIR|library",
                        help="reference solutions (default: the kit's solutions/ when present, else the trusted "
                             "library functions)")
    parser.add_argument("--dataset", default="digits", choices=sorted(datasets.DATASETS),
                        help="dataset of the classifier trainings: the embedded digits (default), or Fashion-MNIST "
                             "(the book's; its files are downloaded into the cache when online, or see --data-dir)")
    parser.add_argument("--data-dir", metavar="DIR",
                        help="a directory holding the four Fashion-MNIST .gz files, placed by hand (nothing is "
                             "downloaded); default: the user cache, or $" + datasets.DATA_DIR_ENV)
    parser.add_argument("--time-limit", type=float, default=60.0, metavar="SECONDS",
                        help="wall time for one function's checks or one training task (default 60)")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.add_argument("--require-isolation", action="store_true",
                        help="refuse to grade (status 2) unless every confinement layer is available: Landlock "
                             "with TCP and signal scoping, user/network/PID/mount namespaces, seccomp")
    parser.add_argument("--only", metavar="FUNCTIONS", type=only_probes,
                        help="grade only these functions (comma-separated) and the trainings of their sections")
    parser.add_argument("--secret-file", metavar="FILE",
                        help="the instructor's secret (default: $" + secret.ENV + "): also run the hidden checks, "
                             "on inputs drawn from the secret and the student's id; keep it out of every student "
                             "repository")


def only_probes(text: str) -> list[str]:
    """``--only``'s comma-separated functions as the probes that grade them (also the pytest plugin's)."""
    names = [t.strip() for t in text.split(",") if t.strip()]
    try:
        return rubric.probes_for_functions(names)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _limits(args) -> sandbox.Limits:
    return dataclasses.replace(sandbox.Limits(), probe_seconds=args.time_limit, import_seconds=args.time_limit)


class CannotRun(Exception):
    """The grader cannot start: the message is shown, the exit status is 2."""


def _data(args) -> datasets.DataSpec:
    """The dataset the options name, its files checked (and fetched into the cache when allowed)."""
    if args.data_dir and args.dataset == "digits":
        print("grade: --data-dir is ignored for the digits set (it ships with scikit-learn)", file=sys.stderr)
    data_dir = str(Path(args.data_dir).resolve()) if args.data_dir and args.dataset != "digits" else None
    try:
        return datasets.DataSpec(args.dataset, data_dir).resolve()
    except (datasets.DatasetUnavailable, idx.IdxError) as exc:
        raise CannotRun(str(exc)) from None


def _reference(args):
    if args.reference in (None, "library"):
        return args.reference
    path = Path(args.reference)
    if not path.is_dir():
        raise CannotRun(f"reference {args.reference} is not a directory")
    return path.resolve()


def _secret(args, submission: Path) -> secret.Secret | None:
    """The instructor's secret the options (or the environment) give, refused where graded code could read it."""
    try:
        secret.refuse_readable_by_children(args.secret_file, submission)
        return secret.Secret.find(args.secret_file)
    except secret.SecretError as exc:
        raise CannotRun(str(exc)) from None


def grade_one(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="grade", description="Grade a submission of the six exercises.")
    parser.add_argument("path", help="a directory laid out like exercises/")
    parser.add_argument("--format", default="text", choices=report.FORMATS)
    parser.add_argument("--output", metavar="FILE", help="write the report to FILE instead of stdout")
    parser.add_argument("--fail-under", type=float, metavar="SCORE",
                        help="exit with status 1 when the score is below SCORE")
    parser.add_argument("--report-dir", metavar="DIR",
                        help="also write the training curves, the polynomial figure and report.md linking them")
    parser.add_argument("--student-id", metavar="ID",
                        help="the student's id for the hidden checks' inputs (default: the folder's name)")
    _common(parser)
    args = parser.parse_args(argv)
    path = Path(args.path)
    if not path.is_dir():
        raise CannotRun(f"{args.path} is not a directory")
    from grader import grading

    reference, data = _reference(args), _data(args)
    key = _secret(args, path)
    hidden = grading.HiddenInputs(key, args.student_id or path.resolve().name) if key else None
    probes = list(rubric.PROBES) if args.only is None else list(args.only)
    if args.report_dir:
        probes = rubric.with_figure_probes(probes)
    progress = Progress(not args.quiet)
    progress.show(f"grading {path}")
    limits = dataclasses.replace(_limits(args), lanes=sandbox.idle_lanes())  # one submission: both cores if idle
    result, run = grading.grade_submission(path, reference, limits,
                                           progress=lambda kind, name: progress.show(f"checking {name}"),
                                           probes=probes, data=data, require_isolation=args.require_isolation,
                                           hidden=hidden)
    figures_failed = None
    if args.report_dir:
        from grader.reports import figures
        progress.show(f"drawing the figures into {args.report_dir}")
        try:
            figures.write_report_dir(args.report_dir, result, run.observations,
                                     references.observations(reference, probes, data), data)
        except OSError as exc:  # the report still goes out; the status says the figures did not
            figures_failed = f"cannot write the figures into {args.report_dir}: {exc.strerror or exc}"
    progress.done()
    color = args.output is None and sys.stdout.isatty() and args.format == "text"
    metrics = None
    if args.format == "gradescope":  # the leaderboard: the classifiers' test accuracies and the grading time
        from grader.authoring.gradescope import leaderboard_metrics
        metrics = leaderboard_metrics(run.observations, data, time.monotonic() - progress.start)
    text = report.render(result, args.format, color=color, metrics=metrics)
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    if figures_failed:
        raise CannotRun(figures_failed)
    if args.fail_under is not None and result.score < args.fail_under:
        return 1
    return 0


def warm(argv: list[str]) -> int:
    """``grade warm``: fill JAX's compilation cache with trusted code, so children compile less."""
    parser = argparse.ArgumentParser(prog="grade warm", description=compile_cache.__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits", choices=sorted(datasets.DATASETS))
    parser.add_argument("--data-dir", metavar="DIR")
    args = parser.parse_args(argv)
    data = datasets.DataSpec(args.dataset, str(Path(args.data_dir).resolve()) if args.data_dir else None)
    try:
        data = data.resolve()
    except (datasets.DatasetUnavailable, idx.IdxError) as exc:
        raise CannotRun(str(exc)) from None
    start = time.monotonic()
    folder = compile_cache.warm(data.to_json())
    print(f"compilation cache filled in {time.monotonic() - start:.1f} s: {folder}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        if argv and argv[0] == "batch":
            from grader.batch import main as batch_main
            return batch_main(argv[1:], _common, _limits, _reference, _data, _secret, Progress)
        if argv and argv[0] == "release":
            from grader.authoring.release import main as release_main
            return release_main(argv[1:])
        if argv and argv[0] == "warm":
            return warm(argv[1:])
        if argv and argv[0] == "render":
            from grader.authoring.release import render_main
            return render_main(argv[1:])
        if argv and argv[0] == "diff":
            from grader.reports.regrade import main as diff_main
            return diff_main(argv[1:])
        if argv and argv[0] == "gradescope":
            from grader.authoring.gradescope import main as gradescope_main
            return gradescope_main(argv[1:])
        return grade_one(argv)
    except CannotRun as exc:
        print(f"grade: {exc}", file=sys.stderr)
        return 2
    except sandbox.SandboxError as exc:
        print(f"grade: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("grade: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

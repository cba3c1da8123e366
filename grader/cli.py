"""The ``grade`` command.

    grade PATH [--format text|json|markdown|junit|gradescope] [--output FILE] [--fail-under SCORE]
               [--report-dir DIR] [--reference DIR|library] [--dataset digits|fashion-mnist]
               [--data-dir DIR] [--time-limit SECONDS] [--quiet] [--only FUNCTIONS]
               [--secret-file FILE] [--student-id ID]
    grade batch DIR [--jobs N] [--out DIR] [same options but the report ones]
    grade release DIR [--force]          a student template repository with its autograding workflow
    grade render REPORT.json --format F  re-render a saved JSON report (markdown, junit, gradescope, classroom)
    grade warm [--dataset D]             fill the compilation cache with trusted code (children read it)
    grade diff OLD NEW                   whom a regrade moves, on which checks, and why
    grade gradescope DIR [--secret-file FILE] [--force]   a Gradescope autograder (setup.sh, run_autograder, the kit)
    grade rubric [--course FILE]         the rubric in force (the kit's, with the course file's settings)

``grade --help`` lists the commands; ``grade COMMAND --help`` shows each one's options. The grading options are
declared once, in :mod:`grader.options`, for this command, ``grade batch`` and the pytest plugin.

``grade PATH`` grades one directory laid out like ``exercises/``: PATH, or the folder in it that holds the
exercise files by the rules of :mod:`grader.locate` (its ``exercises/`` folder, a repository's folder further
down). The exit status is 0 whenever grading ran, whatever the score (1 under ``--fail-under`` when the score is
lower); 2, with one line on stderr, when the grader itself could not run: a path that is not a directory, a
dataset whose files are missing or fail their checksum, a report that cannot be written, a reference that does
not load or raises on a probe (the grader's fault, never points the student loses).
Progress goes to stderr; stdout carries only the report. ``--report-dir DIR`` also writes the training
curves (the student's run beside the reference's), the polynomial under/over-fitting figure and
``report.md`` linking them.

Nothing heavy is imported with this module (no JAX): ``grade --help`` and a command's ``--help`` answer at once,
and the modules that grade come with the function that grades. The first ``grade PATH`` on an empty compilation
cache fills it first (:func:`grader.engine.compile_cache.fill_if_needed`), once, with trusted code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import textwrap
import time
from pathlib import Path

from grader import options
from grader.errors import CannotRun, GraderError
from grader.options import GradeOptions
from grader.progress import Progress
from grader.reports.result import FORMATS, write_report

# The subcommands: name -> (module, function, what it does). ``grade NAME --help`` shows a command's options.
COMMANDS = {
    "batch": ("grader.batch", "main", "grade every submission folder of DIR (one per student): gradebook, reports, "
                               "class summary"),
    "release": ("grader.authoring.release", "main",
                "write a student template repository with its autograding workflow"),
    "render": ("grader.authoring.render", "render_main",
               "re-render a saved JSON report (text, markdown, junit, gradescope, classroom)"),
    "warm": ("grader.cli", "warm", "fill the compilation cache with trusted code (the sandboxed children read it)"),
    "diff": ("grader.reports.regrade", "main",
             "compare two gradings (reports or batch folders): whom a regrade moves and why"),
    "gradescope": ("grader.authoring.gradescope", "main",
                   "write a Gradescope autograder (setup.sh, run_autograder, the kit)"),
    "rubric": ("grader.cli", "rubric_main", "print the rubric in force: the kit's, with a course file's settings"),
}


def _commands_epilog() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {line}" for name, (_, _, line) in COMMANDS.items()]
    return ("commands (grade COMMAND --help for each one's options):\n" + "\n".join(lines) + "\n\n" +
            textwrap.fill("The exit status is 0 whenever grading ran, whatever the score (1 under --fail-under "
                          "when the score is lower), 2 when the grader itself could not run.", 100))


def grade_parser() -> argparse.ArgumentParser:
    """``grade PATH``'s parser; its help also lists the subcommands."""
    parser = argparse.ArgumentParser(
        prog="grade", usage="grade PATH [options]\n       grade COMMAND [options]   (" + ", ".join(COMMANDS) + ")",
        description="Grade a submission of the six exercises (a directory laid out like exercises/), or run one "
                    "of the commands below.",
        epilog=_commands_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", help="a directory laid out like exercises/")
    parser.add_argument("--format", default="text", choices=FORMATS)
    parser.add_argument("--output", metavar="FILE", help="write the report to FILE instead of stdout")
    parser.add_argument("--fail-under", type=float, metavar="SCORE",
                        help="exit with status 1 when the score is below SCORE")
    parser.add_argument("--student-id", metavar="ID",
                        help="the student's id for the hidden checks' inputs (default: the folder's name)")
    options.add_to_argparse(parser, options.GRADE)
    return parser


def grade_one(argv: list[str]) -> int:
    args = grade_parser().parse_args(argv)
    opts = GradeOptions.from_args(args).with_course()
    path = Path(args.path)
    if not path.is_dir():
        raise CannotRun(f"{args.path} is not a directory")
    from grader import grading, locate
    from grader.engine import compile_cache, sandbox
    from grader.reports import report

    student = args.student_id or path.resolve().name
    plan = opts.plan(path, student, lanes=sandbox.idle_lanes(),  # both cores if idle
                     accept_code=opts.accepts_code(student))
    progress = Progress(not opts.quiet)
    folder = locate.find_exercise_folder(path).folder  # PATH itself, its exercises/, or a repository's folder
    path = path if folder is None or folder == path.resolve() else folder
    # The first run fills the compilation cache (once, trusted code only): this one and every later one start faster.
    compile_cache.fill_if_needed(plan.data.to_json(), (lambda line: None) if opts.quiet else None)
    progress.show(f"grading {path}")
    result, run = grading.grade(path, plan, progress=lambda kind, name: progress.show(f"checking {name}"))
    figures_failed = None
    if opts.report_dir:
        from grader.engine import references
        from grader.reports import figures
        progress.show(f"drawing the figures into {opts.report_dir}")
        try:
            figures.write_report_dir(opts.report_dir, result, run.observations,
                                     references.observations(plan.reference, list(plan.probes), plan.data),
                                     plan.data)
        except OSError as exc:  # the report still goes out; the status says the figures did not
            figures_failed = f"cannot write the figures into {opts.report_dir}: {exc.strerror or exc}"
    progress.done()
    color = args.output is None and sys.stdout.isatty() and args.format == "text"
    text = report.render(result, args.format, color=color, seconds=time.monotonic() - progress.start)
    write_report(text, args.output)
    if figures_failed:
        raise CannotRun(figures_failed)
    if args.fail_under is not None and result.score < args.fail_under:
        return 1
    return 0


def warm(argv: list[str]) -> int:
    """``grade warm``: fill JAX's compilation cache with trusted code, so children compile less."""
    from grader.engine import compile_cache

    parser = argparse.ArgumentParser(prog="grade warm", description=compile_cache.__doc__.splitlines()[0])
    options.add_to_argparse(parser, options.WARM)
    data = GradeOptions.from_args(parser.parse_args(argv)).data_spec()
    start = time.monotonic()
    folder = compile_cache.warm(data.to_json())
    print(f"compilation cache filled in {time.monotonic() - start:.1f} s: {folder}")
    return 0


def rubric_main(argv: list[str]) -> int:
    """``grade rubric [--course FILE]``: print the rubric the course file makes of the kit's."""
    from grader import course_file as course

    parser = argparse.ArgumentParser(prog="grade rubric", description=rubric_main.__doc__.split(": ", 1)[1])
    parser.add_argument("--course", metavar="FILE", help="the course file (default: grading.toml here, if any)")
    GradeOptions(course=parser.parse_args(argv).course).with_course()
    print(course.rubric_table())
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run ``grade`` or one of its commands: the one place where the grader's errors
    (:class:`~grader.errors.GraderError`, the sandbox's included) become a line on stderr and exit status 2."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        if argv and argv[0] in COMMANDS:
            module, function, _ = COMMANDS[argv[0]]
            return getattr(importlib.import_module(module), function)(argv[1:])
        return grade_one(argv)
    except GraderError as exc:
        print(f"{exc.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("grade: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

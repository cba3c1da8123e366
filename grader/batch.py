"""``grade batch DIR``: grade every submission folder in DIR (one per student).

The reference is observed once; ``--jobs N`` sandboxed children probe N students at a time, on this machine or
as the tasks of a Dask cluster (``--scheduler``, see :mod:`grader.engine.scale`); judging happens here. Writes
``gradebook.csv`` (student, score, points per function or training task; every cell a spreadsheet would run as a
formula gets a leading ``'``: :func:`grader.reports.inert.csv_cell`), a JSON and a Markdown report per
student (``<student>.json``, ``.md``; an id that is long or holds characters other than letters, digits, ``.``,
``_`` and ``-`` gets a file name of its plain characters and a short hash), and the class summary
(``class_summary.md`` / ``.png``: score histogram, the checks most students failed with their most common
messages) into ``--out`` (default ``DIR/grades``), with a progress bar on stderr.
With an instructor's secret (``--secret-file``), each student's hidden checks run on inputs drawn from the secret
and the folder's name (the student id).

A student's folder is a real folder of DIR. A symbolic link is not followed, and a name with a control character
is not used as a path: each gets its row with no points and a report saying why. What is graded in a folder is found by :func:`grader.locate.find_exercise_folder`: the exercise
files at its top, its ``exercises/`` folder, or a cloned repository's folder further down.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import re
import sys
import tempfile
from pathlib import Path

from grader.reports import class_view, inert, report

from grader.engine import compile_cache, confine, references, scale

from grader import grading, locate, options, rubric
from grader.options import CannotRun, GradeOptions
from grader.progress import Progress


def submissions(root: Path, out: Path) -> tuple[list[Path], dict[str, str]]:
    """The students' folders in ``root``, by name: real folders, not hidden, not ``out``; and the entries that stand
    where a student's folder would but are not graded (id → why, said on stderr too): a symbolic link to a folder
    (never followed, wherever it points) and a folder whose name has a control character."""
    found, skipped = [], {}
    with os.scandir(root) as entries:
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_dir():  # is_dir follows a link: a link to a folder is said
                continue
            why = "a symbolic link, not a student's folder" if entry.is_symlink() else locate.bad_name(entry.name)
            if why:
                print(f"grade batch: not graded {locate.shown(entry.name)}: {why}", file=sys.stderr)
                skipped[entry.name] = why
            elif Path(entry.path).resolve() != out.resolve():
                found.append(Path(entry.path))
    return sorted(found), skipped


def not_graded(why: str, reference_obs, only, data) -> tuple[grading.Result, object]:
    """The result (and run) of an entry no child looked into: every function's checks fail with ``why``."""
    from grader.engine import probing, sandbox

    errors = {f: f"not graded: {why}" for f in rubric.STUDENT_FUNCTIONS}
    run = sandbox.SandboxRun(probing.observe({}, errors, only, data), {}, [], confine.available())
    with tempfile.TemporaryDirectory(prefix="grade-empty-") as empty:  # no file of it is read
        return grading.judge_submission(empty, run, reference_obs, only, data), run


def exercise_folders(students: list[Path]) -> dict[str, Path]:
    """The folder to grade of each student, by student id (the folder's name): where
    :func:`grader.locate.find_exercise_folder` finds the exercise files, else the student's folder itself (every
    function missing). What it could not use is said on stderr, one line each."""
    folders = {}
    for student in students:
        located = locate.find_exercise_folder(student)
        folders[student.name] = located.folder or student
        lines = located.problems if located.folder else (located.note, *located.problems)
        for line in lines:
            print(f"grade batch: {student.name}: {line}", file=sys.stderr)
    return folders


_PLAIN = re.compile(r"[^A-Za-z0-9._-]")
_OURS = ("gradebook", "class_summary")  # the batch's own files in --out


def report_stem(student: str) -> str:
    """The file name (without suffix) of a student's reports: the id itself when it is at most 100 letters,
    digits, ``.``, ``_`` and ``-`` and not one of the batch's own files; else its first 100 characters with the
    others replaced by ``_``, and a short hash of the id (so that two ids never share a file)."""
    stem = _PLAIN.sub("_", student)[:100]
    if stem == student and stem not in _OURS:
        return stem
    return f"{stem}-{hashlib.sha256(os.fsencode(student)).hexdigest()[:10]}"


def _bar(done: int, total: int, label: str, width: int = 24) -> str:
    filled = int(width * done / max(total, 1))
    return f"[{'#' * filled}{'-' * (width - filled)}] {done}/{total} {label}"


def writable_folder(out: Path) -> None:
    """Create ``out`` and make sure files can be written there, before any student is graded;
    :class:`CannotRun` (status 2) otherwise."""
    probe = out / f".grade-batch-{os.getpid()}.tmp"
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise CannotRun(f"cannot write the gradebook into {out}: {exc.strerror or exc}") from None


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="grade batch", description=__doc__.splitlines()[0])
    parser.add_argument("dir", help="a directory holding one submission folder per student")
    parser.add_argument("--jobs", type=int, default=1,
                        help="students graded at once (default 1); with --scheduler local, the number of workers")
    parser.add_argument("--scheduler", metavar="ADDRESS|local",
                        help="probe on a Dask cluster: a TLS scheduler's address (tls://host:8786), or 'local' for a "
                             "LocalCluster of --jobs workers on this machine (needs the 'scale' extra)")
    tls = parser.add_argument_group("a remote scheduler (README, Grading at scale)")
    tls.add_argument("--tls-ca-file", metavar="PEM",
                     help="for --scheduler tls://HOST:PORT: the CA certificate that signed the cluster's certificates")
    tls.add_argument("--tls-cert", metavar="PEM", help="this client's certificate, signed by that CA")
    tls.add_argument("--tls-key", metavar="PEM", help="this client's private key (unless --tls-cert holds it)")
    tls.add_argument("--insecure-scheduler", action="store_true",
                     help="accept a plain tcp:// scheduler, which anyone who can reach it can use to change grades")
    parser.add_argument("--out", help="where the gradebook and reports go (default DIR/grades)")
    options.add_to_argparse(parser, options.BATCH)
    args = parser.parse_args(argv)
    opts = GradeOptions.from_args(args)
    root = Path(args.dir)
    if not root.is_dir():
        print(f"grade batch: {args.dir} is not a directory", file=sys.stderr)
        return 2
    security = scale.client_security(args.scheduler, scale.TlsFiles(args.tls_ca_file, args.tls_cert, args.tls_key),
                                     args.insecure_scheduler)
    reference, data, limits = opts.reference_spec(), opts.data_spec(), opts.limits()
    secret = opts.secret(root)
    if opts.require_isolation and not confine.available().complete:
        print(f"grade batch: full isolation was required, but this machine offers only: "
              f"{confine.available().describe()}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else root / "grades"
    writable_folder(out)
    students, skipped = submissions(root, out)
    folders = exercise_folders(students)  # student id → the folder graded
    only = None if opts.only is None else list(opts.only)
    progress = Progress(not opts.quiet)

    progress.show(_bar(0, len(students), "the compilation cache (filled once)"))
    compile_cache.ensure_warm(data.to_json())
    progress.show(_bar(0, len(students), "observing the reference"))
    reference_obs = references.sound_reference(references.observations(reference, only, data), reference)
    targets = [t for t in rubric.TARGETS if only is None or
               any(c.target == t and c.probe in only for c in rubric.CHECKS)]
    rows = []
    results, fingerprints = {}, {}

    probes = opts.probes()
    hidden = {s: grading.HiddenInputs(secret, s) for s in folders} if secret else {}
    seeds = {name: h.seeds(probes) for name, h in hidden.items()}
    accepted = frozenset(s for s in folders if opts.accepts_code(s))
    if args.scheduler:
        runs = scale.probe_dask(folders, only, limits, data, opts.require_isolation, args.scheduler, args.jobs, seeds,
                                accepted, security)
    else:
        runs = scale.probe_local(folders, only, limits, data, opts.require_isolation, args.jobs, seeds, accepted)
    total = len(students) + len(skipped)
    for student, why in skipped.items():
        results[student], run = not_graded(why, reference_obs, only, data)
        fingerprints[student] = class_view.wrong_answer_fingerprints(results[student], run.observations)
    for done, (student, run) in enumerate(runs, len(skipped) + 1):
        mine = seeds.get(student, {})
        student_ref = {**reference_obs, **references.sound_reference(
            references.observations(reference, list(mine), data, mine), reference)} if mine else reference_obs
        try:
            results[student] = grading.judge_submission(folders[student], run, student_ref, only, data,
                                                         hidden.get(student))
        except Exception as exc:  # never the batch's end: this student's row says it
            results[student], run = not_graded(f"the grader could not judge it ({type(exc).__name__}: {exc})",
                                               reference_obs, only, data)
        fingerprints[student] = class_view.wrong_answer_fingerprints(results[student], run.observations)
        progress.show(_bar(done, total, student))
    progress.done()
    for student, result in results.items():
        (out / f"{report_stem(student)}.json").write_text(result.to_json() + "\n")
        (out / f"{report_stem(student)}.md").write_text(report.markdown(result))
        per_target = result.by_target()
        rows.append([student, result.score] + [per_target[t][0] for t in targets])
    rows.sort(key=lambda r: r[0])
    with open(out / "gradebook.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(inert.csv_row(["student", "score"] + targets))
        writer.writerows(inert.csv_row(row) for row in rows)
    class_view.write(dict(sorted(results.items())), out, fingerprints, {s: report_stem(s) for s in results})
    print(f"graded {len(rows)} submissions: {out / 'gradebook.csv'}, {out / 'class_summary.md'}")
    return 0

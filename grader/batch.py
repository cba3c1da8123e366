"""``grade batch DIR``: grade every submission folder in DIR (one per student).

The reference is observed once; ``--jobs N`` sandboxed children probe N students at a time, on this machine or
as the tasks of a Dask cluster (``--scheduler``, see :mod:`grader.engine.scale`); judging happens here. Writes
into ``--out`` (default: ``DIR-grades`` beside DIR, never inside it) ``gradebook.csv`` (a row per student: the
public points per function or training task, ``public``, ``hidden``, ``total``, ``max``; the columns, the
rounding and the LMS files are :mod:`grader.reports.gradebook`'s; every cell a spreadsheet would run as a formula
gets a leading ``'``: :func:`grader.reports.inert.csv_cell`), a JSON and a Markdown report per student
(``<student>.json``, ``.md``; an id that is long or holds characters other than letters, digits, ``.``, ``_``
and ``-`` gets a file name of its plain characters and a short hash), and the class summary
(``class_summary.md`` / ``.png`` / ``.html``, :mod:`grader.reports.class_view`: the score histogram, what to reteach,
each function's correct / not attempted / forbidden / crashed / wrong students, the dashboard), with a progress bar
on stderr. With ``--roster FILE`` the gradebook gets the roster's ``id`` and
``name`` and a row for each student of the roster without a folder, and ``canvas.csv`` and ``moodle.csv``
(named ``--assignment``) are written for the LMS.
With an instructor's secret (``--secret-file``), each student's hidden checks run on inputs drawn from the secret
and the folder's name (the student id).

The output folder is the batch's own: it holds a marker (:data:`grader.reports.gradebook.MARKER`) listing the
files the batch wrote there. A non-empty folder without one is refused; in one with it, the reports of students
no longer in DIR are removed (only files the marker lists), so the gradebook indexes the folder. A folder of DIR
holding the marker (an output folder put inside the class) is never graded, under any name.
``--student NAME`` regrades just those students into an existing output folder: their rows and reports are
replaced, the others' rows are rebuilt from their JSON reports unchanged, and the class summary is drawn again
from everyone's.

A student's folder is a real folder of DIR. A symbolic link is not followed, and a name with a control character is not
used as a path: each gets its row with no points and a report saying why. What is graded in a folder is found by
:func:`grader.locate.find_exercise_folder`: the exercise files at its top, its ``exercises/`` folder, or a cloned
repository's folder further down.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import re
import sys
import tempfile
from pathlib import Path

from grader import course_file as course
from grader import grading, locate, options, rubric
from grader.engine import compile_cache, confine, scale
from grader.errors import CannotRun
from grader.options import GradeOptions
from grader.progress import Progress
from grader.reports import class_summary, class_view, gradebook, regrade, report
from grader.reports.result import Result


def submissions(root: Path, out: Path) -> tuple[list[Path], dict[str, str]]:
    """The students' folders in ``root``, by name: real folders, not hidden, not ``out`` nor any other folder the
    batch wrote (:func:`grader.reports.gradebook.holds_marker`: said on stderr); and the entries that stand where
    a student's folder would but are not graded (id → why, said on stderr too): a symbolic link to a folder
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
            elif Path(entry.path).resolve() == out.resolve():
                continue
            elif gradebook.holds_marker(Path(entry.path)):
                print(f"grade batch: not graded {locate.shown(entry.name)}: a folder grade batch wrote, not a "
                      "student's", file=sys.stderr)
            else:
                found.append(Path(entry.path))
    return sorted(found), skipped


def not_graded(why: str, reference_obs, plan) -> tuple[grading.Result, object]:
    """The result (and run) of an entry no child looked into, graded as the student's ``plan`` says: every
    function's checks fail with ``why`` (its hidden checks too, with a secret: its maximum is the class's)."""
    from grader.engine import probing, sandbox
    from grader.observations import Observations

    errors = {f: f"not graded: {why}" for f in rubric.STUDENT_FUNCTIONS}
    run = sandbox.SandboxRun(probing.observe({}, errors, plan.all_probes(), plan.data, plan.seeds), {}, [],
                             confine.available())
    reference_obs = {**{p: Observations() for p in plan.seeds}, **reference_obs}  # never read: the student's failed
    with tempfile.TemporaryDirectory(prefix="grade-empty-") as empty:  # no file of it is read
        return grading.judge_submission(empty, run, reference_obs, plan), run


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
    parser.add_argument("--out", metavar="FOLDER",
                        help="where the gradebook and reports go (default: DIR-grades beside DIR); a folder grade "
                             "batch wrote before, or a new or empty one")
    book = parser.add_argument_group("the gradebook (README, Gradebook and LMS exports)")
    book.add_argument("--student", action="append", metavar="NAMES",
                      help="regrade only these students (folder names, comma-separated or repeated) into the "
                           "existing gradebook of --out: their rows and reports are replaced, the others kept")
    book.add_argument("--roster", metavar="CSV",
                      help="the class list: a CSV file with columns folder,id (the student's LMS id) and optionally "
                           "name,email,section; adds id and name to the gradebook, a row for each student without "
                           "a folder, and writes canvas.csv and moodle.csv")
    book.add_argument("--assignment", metavar="NAME",
                      help="the assignment's name in the LMS files (default 'DL basics'); for Canvas, 'Name (ID)' "
                           "names an existing assignment by its Canvas id")
    parser.add_argument("--previous", metavar="DIR",
                        help="an earlier grading of the class (a batch's output folder): the dashboard shows whom "
                             "this one moves, as grade diff does")
    options.add_to_argparse(parser, options.BATCH)
    args = parser.parse_args(argv)
    opts = GradeOptions.from_args(args).with_course()
    root = Path(args.dir)
    if not root.is_dir():
        raise CannotRun(f"{args.dir} is not a directory", command="grade batch")
    security = scale.client_security(args.scheduler, scale.TlsFiles(args.tls_ca_file, args.tls_cert, args.tls_key),
                                     args.insecure_scheduler)
    plan = opts.plan(root)  # the class's: each student's adds their hidden probes' seeds (for_student)
    data, secret = plan.data, plan.secret
    if opts.require_isolation and not confine.available().complete:
        raise CannotRun(f"full isolation was required, but this machine offers only: "
                        f"{confine.available().describe()}", command="grade batch")
    out = output_folder(root, args.out)
    before = existing_gradebook(out)
    chosen = _names(args.student)
    if chosen is not None and before is None:
        raise CannotRun(f"--student regrades into an existing gradebook, and {out} holds none: grade the whole "
                        "class first")
    writable_folder(out)
    previous = None
    if args.previous:
        try:
            previous = regrade.load(Path(args.previous))
        except ValueError as exc:
            raise CannotRun(f"--previous: {exc}") from None
    students, skipped = submissions(root, out)
    only = None if opts.only is None else list(opts.only)
    settings = gradebook.Manifest(only=only, dataset=data.name, secret=secret.fingerprint() if secret else None,
                                  course=course.current().sha256, assignment=args.assignment)
    if args.roster:
        try:
            settings.roster = {k: dataclasses.asdict(v) for k, v in gradebook.read_roster(Path(args.roster)).items()}
        except ValueError as exc:
            raise CannotRun(str(exc)) from None
    class_ids = [s.name for s in students] + list(skipped)
    kept: dict[str, Result] = {}
    if chosen is not None:
        settings, kept = regrade_plan(out, before, settings, chosen, class_ids, args.only is not None)
        only = settings.only
        plan = dataclasses.replace(plan, probes=rubric.PROBES if only is None else only)  # the earlier run's --only
        students = [s for s in students if s.name in chosen]
        skipped = {k: v for k, v in skipped.items() if k in chosen}
    folders = exercise_folders(students)  # student id → the folder graded
    progress = Progress(not opts.quiet)

    progress.show(_bar(0, len(students), "the compilation cache (filled once)"))
    compile_cache.ensure_warm(data.to_json())
    progress.show(_bar(0, len(students), "observing the reference"))
    reference_obs = grading.observe_reference(plan)
    grading.reference_meets_rubric(reference_obs, plan)
    targets = [t for t in rubric.TARGETS if only is None or
               any(c.target == t and c.probe in only for c in rubric.CHECKS)]
    results, fingerprints = {}, {}

    plans = {s: plan.for_student(s, opts.accepts_code(s)) for s in [*folders, *skipped]}
    if args.scheduler:
        runs = scale.probe_dask({s: (folders[s], plans[s]) for s in folders}, args.scheduler, args.jobs, security)
    else:
        runs = scale.probe_local({s: (folders[s], plans[s]) for s in folders}, args.jobs)
    total = len(students) + len(skipped)
    for student, why in skipped.items():
        results[student], run = not_graded(why, reference_obs, plans[student])
        fingerprints[student] = class_view.wrong_answer_fingerprints(results[student], run.observations)
    for done, (student, run) in enumerate(runs, len(skipped) + 1):
        mine = plans[student]
        student_ref = {**reference_obs, **grading.observe_reference(mine, list(mine.seeds))} if mine.seeds \
            else reference_obs
        try:
            results[student] = grading.judge_submission(folders[student], run, student_ref, mine)
        except Exception as exc:  # never the batch's end: this student's row says it
            results[student], run = not_graded(f"the grader could not judge it ({type(exc).__name__}: {exc})",
                                               reference_obs, mine)
        fingerprints[student] = class_view.wrong_answer_fingerprints(results[student], run.observations)
        progress.show(_bar(done, total, student))
    progress.done()
    write_folder(out, before, settings, results, kept, fingerprints, targets, previous)
    regraded = f" (of {len(results) + len(kept)} in the gradebook)" if chosen is not None else ""
    print(f"graded {len(results)} submissions{regraded}: {out / gradebook.GRADEBOOK}, {out / 'class_summary.md'}")
    return 0


DEFAULT_ASSIGNMENT = "DL basics"


def _names(values: list[str] | None) -> set[str] | None:
    """``--student``'s folder names (each value comma-separated), ``None`` without the option."""
    if values is None:
        return None
    names = {n.strip() for v in values for n in v.split(",") if n.strip()}
    if not names:
        raise CannotRun("--student names no student")
    return names


def output_folder(root: Path, out: str | None) -> Path:
    """``--out``, or ``DIR-grades`` beside the class folder ``root``: the batch's output is never a folder of the
    class by default (:class:`CannotRun` where ``root`` has no parent to put it in)."""
    if out:
        return Path(out)
    resolved = root.resolve()
    if resolved.parent == resolved:
        raise CannotRun(f"{root} has no parent folder for the gradebook: give --out")
    return resolved.parent / f"{resolved.name}-grades"


def existing_gradebook(out: Path) -> gradebook.Manifest | None:
    """The marker of ``out`` when the batch wrote it before; ``None`` for a new or empty folder; :class:`CannotRun`
    for a non-empty folder without the marker (its files are not the batch's to replace or remove)."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise CannotRun(f"{out} is not a folder (a symbolic link or a file): give --out a folder")
    if not out.is_dir():
        return None
    try:
        manifest = gradebook.Manifest.read(out)
    except ValueError as exc:
        raise CannotRun(f"--out {out}: {exc}") from None
    if manifest is None and any(out.iterdir()):
        raise CannotRun(f"--out {out} holds files grade batch did not write: give a new or empty folder (or one "
                        "an earlier grade batch wrote)")
    return manifest


def regrade_plan(out: Path, before: gradebook.Manifest | None, settings: gradebook.Manifest, chosen: set[str],
                 class_ids: list[str], only_given: bool) -> tuple[gradebook.Manifest, dict[str, Result]]:
    """For ``--student``: the settings to grade with (the earlier run's ``--only``, roster and assignment unless
    given again) and the results of the students not regraded, read from their JSON reports. :class:`CannotRun`
    when there is no earlier gradebook, a named student is not in the class, a student neither named nor in the
    gradebook, or the grading would differ from the earlier run's (other functions, dataset or secret)."""
    if before is None:
        raise CannotRun(f"--student regrades into an existing gradebook, and {out} holds none: grade the whole "
                        "class first")
    unknown = sorted(chosen - set(class_ids))
    if unknown:
        raise CannotRun(f"--student: no folder {', '.join(map(locate.shown, unknown))} in the class")
    if only_given and settings.only != before.only:
        raise CannotRun(f"--only differs from the gradebook's ({','.join(before.only or ['every function'])}): "
                        "regrade the whole class to change it")
    if settings.dataset != before.dataset:
        raise CannotRun(f"the dataset differs from the gradebook's ({before.dataset})")
    if settings.course != before.course:
        graded = f"sha256 {before.course[:12]}" if before.course else "the kit's rubric"
        raise CannotRun(f"the course file differs from the gradebook's ({graded}): regrade the whole class to "
                        "change it")
    if settings.secret != before.secret:
        raise CannotRun("the instructor's secret differs from the gradebook's (" +
                        (f"graded with secret {before.secret}" if before.secret else "graded without one") + ")")
    missing = sorted(s for s in class_ids if s not in chosen and s not in before.students)
    if missing:
        raise CannotRun(f"not in the gradebook: {', '.join(map(locate.shown, missing))}: name them with --student "
                        "too, or grade the whole class")
    kept = {}
    for student in class_ids:
        if student in chosen:
            continue
        path = out / f"{before.students[student]}.json"
        try:
            kept[student] = Result.from_dict(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CannotRun(f"cannot read {path}, {locate.shown(student)}'s report ({exc}): grade the whole class "
                            "again") from None
    return dataclasses.replace(settings, only=before.only,
                               roster=settings.roster if settings.roster is not None else before.roster,
                               assignment=settings.assignment or before.assignment,
                               fingerprints={s: f for s, f in before.fingerprints.items() if s in kept}), kept


def write_folder(out: Path, before: gradebook.Manifest | None, settings: gradebook.Manifest,
                 results: dict[str, Result], kept: dict[str, Result], fingerprints: dict[str, dict[str, str]],
                 targets: list[str], previous: dict[str, Result] | None = None) -> None:
    """Write the graded students' reports, then the gradebook, the LMS files and the class summary from every
    student's result (``results`` and ``kept``), then the marker; and remove the files an earlier run wrote that
    this one does not (the reports of students no longer in the class, LMS files without a roster). The marker
    is written first too, listing the earlier files and this run's, so an interrupted run leaves none unlisted."""
    everyone = dict(sorted({**kept, **results}.items()))
    roster = settings.roster_entries()
    files = [gradebook.GRADEBOOK, "class_summary.md", "class_summary.png"]
    if roster is not None:
        files += [gradebook.CANVAS, gradebook.MOODLE]
    manifest = dataclasses.replace(settings, students={s: report_stem(s) for s in everyone}, files=files,
                                   fingerprints={**settings.fingerprints, **fingerprints})
    earlier = before.written() if before else set()
    pending = dataclasses.replace(manifest, files=sorted(earlier | manifest.written()), students={})
    pending.write(out)
    for student, result in results.items():
        (out / f"{report_stem(student)}.json").write_text(result.to_json() + "\n")
        (out / f"{report_stem(student)}.md").write_text(report.markdown(result))
    table = gradebook.rows(everyone, targets, roster, gradebook.class_max(everyone))
    gradebook.write_gradebook(out / gradebook.GRADEBOOK, table, targets, roster is not None)
    if roster is not None:
        assignment = settings.assignment or DEFAULT_ASSIGNMENT
        gradebook.write_canvas(out / gradebook.CANVAS, table, assignment, gradebook.class_max(everyone))
        gradebook.write_moodle(out / gradebook.MOODLE, table, assignment)
        unlisted = [r.student for r in table if r.note == gradebook.NOT_IN_ROSTER]
        if unlisted:
            print(f"grade batch: not in the roster (in the gradebook, not in the LMS files): "
                  f"{', '.join(map(locate.shown, unlisted))}", file=sys.stderr)
    class_summary.write(everyone, out, {s: manifest.fingerprints.get(s, {}) for s in everyone},
                     {s: report_stem(s) for s in everyone}, previous)
    manifest.write(out)
    removed = gradebook.remove_stale(out, earlier, manifest.written())
    if removed:
        print(f"grade batch: removed from {out}, no longer the batch's: {', '.join(removed)}", file=sys.stderr)

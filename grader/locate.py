"""Where a submission's exercise files are, and reading them without trusting the folder they came in.

A submission is a folder a student filled: their Gradescope upload, one student's folder of ``grade batch``, the
folder given to ``grade PATH``. Everything in it is the student's choice, names included, so:

**The folder to grade** (:func:`find_exercise_folder`). An *exercise file* is a regular file named after a module
that holds student functions (``mlp.py``, ``linear_regression.py``, ...: :data:`grader.rubric.STUDENT_FUNCTIONS`).
The folder graded is the shallowest one under the root holding at least one exercise file: the root itself (loose
files), its ``exercises/`` folder, or a folder further down (a cloned repository's ``repo-name/exercises/``). A
folder named ``exercises`` counts one level shallower than it is, so it wins over exercise files beside it (a
stray copy at the top level does not hide the real ``exercises/``). Ties go to the folder with the most exercise
files, then to the first by name. None is chosen when no folder holds one.

**The walk**, there and when reading. A symbolic link is never followed: it is neither a folder to enter nor a
file to take, wherever it points. The walk never leaves the root (each folder it enters is opened without
following a link and checked to resolve inside the root). A name with a control character (newline and tab
included: any character of Unicode category C, so also a name that is not valid UTF-8) or longer than
:data:`MAX_NAME_BYTES` is skipped, with a note. Hidden folders and ``__pycache__`` are not entered. The walk goes
at most :data:`MAX_DEPTH` folders down and looks at no more than :data:`MAX_ENTRIES` names, so a hostile tree
cannot stall it.

**Reading** (:func:`read_submission_files`): the ``.py`` files of the chosen folder and its subfolders, by
relative path, up to :data:`MAX_SUBMISSION_BYTES` in all. Only regular files are read, each opened with
``O_NOFOLLOW | O_NONBLOCK`` and checked again with ``fstat``, so a FIFO, a device, a socket, a symbolic link or a
folder named ``x.py`` is skipped with a message instead of blocking the grader or raising; a file that cannot be
read or vanishes is a message too. Each message is one line that names the file, its name shown with control
characters escaped (:func:`shown`).

``python -m grader.locate --copy-to DEST SUBMISSION`` (what the Gradescope autograder runs): find the folder,
copy its readable ``.py`` files into DEST (created), and print ``grading <folder>`` (relative, escaped) and the
notes, one line each. ``--notes FILE`` also writes what the student should read (nothing found, files skipped)
as Markdown into FILE. The exit status is 0 whether or not anything was found, 2 when DEST cannot be written.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import os
import stat
import sys
import unicodedata
from collections import deque
from pathlib import Path

from grader.reports import inert

MAX_DEPTH = 6                             # folders below the root that are looked into
MAX_ENTRIES = 10_000                      # names looked at in one walk
MAX_NAME_BYTES = 255                      # a longer name (encoded) is skipped: no file system of ours holds one
MAX_SUBMISSION_BYTES = 20 * 1024 * 1024   # the .py files read from one submission, in all
EXERCISES = "exercises"

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


@dataclasses.dataclass(frozen=True)
class Located:
    """What :func:`find_exercise_folder` chose: the folder to grade (``None`` when no folder holds an exercise
    file), a note of what was chosen and why, and the problems met on the way (one line each)."""

    folder: Path | None
    note: str
    problems: tuple[str, ...] = ()


@dataclasses.dataclass
class Submission:
    """What :func:`read_submission` read: the ``.py`` files by relative POSIX path; the ``.py`` files it skipped
    (relative path → why); and the walk's own notes (folders skipped, bounds reached), one line each."""

    files: dict[str, bytes]
    skipped: dict[str, str]
    notes: list[str]

    @property
    def problems(self) -> list[str]:
        """One line per folder or file skipped, naming it."""
        return self.notes + [f"{shown(path)} {why}: skipped" for path, why in self.skipped.items()]

    def module_problems(self) -> dict[str, str]:
        """Exercise module → the message its functions get when its file at the top was skipped (``mlp.py is
        not a regular file (a FIFO): not graded``), as :func:`grader.engine.submission.load_functions` takes
        them (``broken``)."""
        return {path.removesuffix(".py"): f"{path} {why}: not graded" for path, why in self.skipped.items()
                if path in exercise_files()}


def exercise_files() -> frozenset[str]:
    """The exercise files: ``<module>.py`` for each module holding student functions."""
    from grader.rubric import STUDENT_FUNCTIONS  # imported when needed: the rubric brings in JAX

    return frozenset(f"{module}.py" for module in STUDENT_FUNCTIONS.values())


def shown(name: str) -> str:
    """``name`` on one line, safe to print: each control character (Unicode category C: newline, tab, escape, a
    byte that was not UTF-8, ...) escaped as ``\\n``, ``\\t``, ``\\xNN`` or ``\\uNNNN``."""
    return "".join(repr(ch)[1:-1] if unicodedata.category(ch)[0] == "C" else ch for ch in name)


def bad_name(name: str) -> str | None:
    """Why ``name`` (one part of a path) is refused, or ``None``: a control character, or over-long."""
    if any(unicodedata.category(ch)[0] == "C" for ch in name):
        return "has a control character in its name"
    if len(os.fsencode(name)) > MAX_NAME_BYTES:
        return f"has a name longer than {MAX_NAME_BYTES} bytes"
    return None


def _skipped_folder(name: str) -> bool:
    return name.startswith(".") or name == "__pycache__"


def _what(mode: int) -> str:
    for test, what in ((stat.S_ISLNK, "a symbolic link, not followed"), (stat.S_ISDIR, "a folder"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"),
                       (stat.S_ISBLK, "a device")):
        if test(mode):
            return what
    return "not a file"


def _error(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "vanished while it was read"
    if isinstance(exc, PermissionError):
        return "cannot be read (permission denied)"
    return f"cannot be read ({exc.strerror or exc})"


class _NotRead(Exception):
    """Why a file or folder was not read (the message's tail, after its name)."""


class _Budget:
    """The names one walk may still look at."""

    def __init__(self) -> None:
        self.left = MAX_ENTRIES

    def take(self) -> bool:
        self.left -= 1
        return self.left >= 0


def _open_folder(base: Path, parts: tuple[str, ...]) -> int:
    """Open ``base/parts`` as a folder, without following a link at its last part (the walk looked at the
    others), after checking that it resolves inside ``base``."""
    path = base.joinpath(*parts)
    if not path.resolve().is_relative_to(base):
        raise _NotRead("leads outside the submission")
    try:
        return os.open(path, _DIR_FLAGS)
    except OSError as exc:
        raise _NotRead(_error(exc)) from None


def _entries(fd: int, budget: _Budget) -> tuple[list[tuple[str, int]], bool]:
    """The names in the open folder ``fd`` with their modes (links not followed), sorted by name, as many as
    ``budget`` allows; and whether some were left unread for lack of it."""
    found = []
    with os.scandir(fd) as it:
        for entry in it:
            if not budget.take():
                return sorted(found), True
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError:  # gone between the listing and the look
                continue
            found.append((entry.name, mode))
    return sorted(found), False


def _walk(base: Path, notes: list[str], breadth_first: bool):
    """Yield ``(parts, fd, entries)`` for each folder under ``base``: its path as a tuple of names, an open
    descriptor (valid until the next step), its :func:`_entries`. Breadth first or depth first, in name order,
    within the bounds of the module docstring; what is skipped on the way is noted in ``notes``."""
    budget, pending, stopped = _Budget(), deque([()]), False
    while pending:
        parts = pending.popleft() if breadth_first else pending.pop()
        try:
            fd = _open_folder(base, parts)
        except _NotRead as exc:
            notes.append(f"{shown('/'.join(parts) or '.')} {exc}: skipped")
            continue
        try:
            entries, cut = _entries(fd, budget)
            if cut and not stopped:
                stopped = True
                notes.append(f"more than {MAX_ENTRIES:,} names in the submission: the rest were not looked at")
            yield parts, fd, entries
        finally:
            os.close(fd)
        folders = []
        for name, mode in entries:
            if not stat.S_ISDIR(mode) or _skipped_folder(name):
                continue
            why = bad_name(name) or (f"is more than {MAX_DEPTH} folders down" if len(parts) >= MAX_DEPTH else None)
            if why:
                notes.append(f"{shown('/'.join((*parts, name)))} {why}: skipped")
            else:
                folders.append((*parts, name))
        pending.extend(folders if breadth_first else reversed(folders))


def find_exercise_folder(root: str | Path) -> Located:
    """The folder under ``root`` to grade, by the rules of the module docstring, with a note saying what was
    chosen and why, and the problems met on the way. ``root`` itself may be a link (it is the caller's choice);
    nothing under it is followed."""
    root = Path(root)
    try:
        base = root.resolve(strict=True)
    except OSError as exc:
        return Located(None, f"{shown(str(root))} {_error(exc)}")
    if not base.is_dir():
        return Located(None, f"{shown(str(root))} is not a folder")
    wanted = exercise_files()
    problems: list[str] = []
    best: tuple | None = None
    for parts, _, entries in _walk(base, problems, breadth_first=True):
        for name, mode in entries:
            path = shown("/".join((*parts, name)))
            if stat.S_ISLNK(mode):
                problems.append(f"{path} is a symbolic link: not followed")
            elif not stat.S_ISDIR(mode) and bad_name(name):
                problems.append(f"{path} {bad_name(name)}: skipped")
        found = sum(1 for name, mode in entries if name in wanted and stat.S_ISREG(mode))
        if found:
            named = bool(parts) and parts[-1] == EXERCISES
            key = (len(parts) - named, not named, -found, parts)
            best = key if best is None else min(best, key)
    if best is None:
        return Located(None, f"no exercise file ({', '.join(sorted(wanted))}) anywhere in the submission",
                       tuple(problems))
    _, _, found, parts = best
    where = ("at the top level" if not parts else
             f"in an {EXERCISES}/ folder" if parts[-1] == EXERCISES else "in the shallowest folder holding one")
    note = f"{shown('/'.join(parts) or '.')}: {-found} exercise file{'s' * (found != -1)} {where}"
    return Located(base.joinpath(*parts), note, tuple(problems))


def _read_regular(name: str, dir_fd: int, room: int) -> bytes | None:
    """The bytes of the regular file ``name`` in the open folder ``dir_fd``, or ``None`` when it holds more
    than ``room`` bytes; :class:`_NotRead` when it is not a regular file or cannot be read."""
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _NotRead("is not a regular file (a symbolic link, not followed)") from None
        raise _NotRead(_error(exc)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _NotRead(f"is not a regular file ({_what(info.st_mode)})")
        if info.st_size > room:
            return None
        chunks, size = [], 0
        while size <= room and (chunk := os.read(fd, min(1 << 20, room + 1 - size))):
            chunks.append(chunk)
            size += len(chunk)
        return None if size > room else b"".join(chunks)
    except OSError as exc:
        raise _NotRead(_error(exc)) from None
    finally:
        os.close(fd)


def read_submission(folder: str | Path) -> Submission:
    """The ``.py`` files of ``folder`` and its subfolders that can be read safely, and what was skipped and why
    (see the module docstring). Hidden files and folders and ``__pycache__`` are left out without a word; once
    :data:`MAX_SUBMISSION_BYTES` are read, the files after are skipped."""
    base = Path(folder).resolve()
    files: dict[str, bytes] = {}
    skipped: dict[str, str] = {}
    notes: list[str] = []
    full = f"was not read: the submission's files hold more than {MAX_SUBMISSION_BYTES >> 20} MiB"
    total = 0
    for parts, fd, entries in _walk(base, notes, breadth_first=False):
        for name, mode in entries:
            if not name.endswith(".py") or name.startswith("."):
                continue
            rel = "/".join((*parts, name))
            why = bad_name(name) or (None if stat.S_ISREG(mode) else f"is not a regular file ({_what(mode)})")
            if why or total > MAX_SUBMISSION_BYTES:
                skipped[rel] = why or full
                continue
            try:
                data = _read_regular(name, fd, MAX_SUBMISSION_BYTES - total)
            except _NotRead as exc:
                skipped[rel] = str(exc)
                continue
            if data is None:
                total = MAX_SUBMISSION_BYTES + 1  # nothing more is read
                skipped[rel] = full
                continue
            total += len(data)
            files[rel] = data
    return Submission(dict(sorted(files.items())), skipped, notes)


def read_submission_files(folder: str | Path) -> tuple[dict[str, bytes], list[str]]:
    """The submission's ``.py`` files by relative POSIX path, and the problems met reading them, one line each
    naming the file (:func:`read_submission`)."""
    submission = read_submission(folder)
    return submission.files, submission.problems


# --- python -m grader.locate --copy-to DEST SUBMISSION -------------------------------------------------------

def student_notes(located: Located, submission: Submission | None) -> str:
    """What the student should read before their results (Markdown), or "" when all went well: that no exercise
    file was found, and the files skipped."""
    lines = []
    if located.folder is None:
        names = ", ".join(f"`{name}`" for name in sorted(exercise_files()))
        lines += ["**No exercise files were found in your submission**, so nothing could be graded. Submit your "
                  f"files ({names}) themselves, in an `{EXERCISES}/` folder, or in your repository's folder. "
                  "Symbolic links are not followed.", ""]
        lines += [f"- {inert.markdown(p)}" for p in located.problems]
    elif submission is not None and submission.problems:
        lines += ["**Some of your files were not graded:**", ""]
        lines += [f"- {inert.markdown(p)}" for p in submission.problems]
    return "\n".join(lines).strip() + "\n" if lines else ""


def write_files(files: dict[str, bytes], target: Path) -> None:
    """Lay out ``files`` (relative path → bytes, as :func:`read_submission_files` reads them) under ``target``."""
    target.mkdir(parents=True)
    for rel, content in files.items():
        path = (target / rel).resolve()
        if target.resolve() not in path.parents:
            continue  # a path that would leave the folder
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def copy_submission(root: str | Path, dest: str | Path) -> tuple[Located, Submission | None]:
    """Find the folder to grade under ``root`` and copy its readable ``.py`` files into ``dest`` (created; left
    empty when none is found)."""
    located = find_exercise_folder(root)
    submission = read_submission(located.folder) if located.folder is not None else None
    write_files(submission.files if submission else {}, Path(dest))
    return located, submission


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.locate", description=__doc__.splitlines()[0])
    parser.add_argument("submission", help="the folder the student submitted")
    parser.add_argument("--copy-to", metavar="DEST", required=True,
                        help="a new folder to copy the exercise folder's readable .py files into")
    parser.add_argument("--notes", metavar="FILE", help="write what the student should read (Markdown) here")
    args = parser.parse_args(argv)
    root = Path(args.submission)
    try:
        located, submission = copy_submission(root, args.copy_to)
        if args.notes:
            Path(args.notes).write_text(student_notes(located, submission))
    except OSError as exc:
        print(f"grader.locate: cannot copy the submission: {exc.strerror or exc}", file=sys.stderr)
        return 2
    name = shown(root.resolve().name)
    if located.folder is None:
        print("grading nothing")
    else:
        rel = located.folder.relative_to(root.resolve()).as_posix()
        print(f"grading {name if rel == '.' else name + '/' + shown(rel)}")
    for line in [located.note, *located.problems, *(submission.problems if submission else [])]:
        print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

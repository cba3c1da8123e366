"""The gradebook of ``grade batch``: one row per student, and the files an LMS imports.

The table (:func:`rows`, written by :func:`write_gradebook` as ``gradebook.csv``) has a row per student folder
and per roster entry, sorted by folder name, with the columns

- ``student`` (the folder's name), and ``id`` and ``name`` from the roster when one is given;
- one per function or training task graded: the points of its *public* checks only;
- ``public`` (every public check), ``hidden`` (every hidden check: they run with the instructor's secret, see
  :attr:`grader.reports.result.CheckResult.hidden`), ``total`` (``public + hidden``, as written) and ``max``
  (the most the student could earn: public and hidden checks that ran);
- ``note`` with a roster: ``no submission`` (a roster entry without a folder: 0 points of the class's maximum)
  or ``not in the roster`` (a folder the roster does not name: graded, but left out of the LMS files).

Points are rounded to :data:`DECIMALS` decimals, each column from the exact points (a check's points are
fractions of its weight, so the sums carry float noise such as ``100.70588``); ``total`` is the sum of the
rounded ``public`` and ``hidden``, so ``public + hidden == total`` holds in a spreadsheet. A function's
columns may then add up to ``public`` ± 0.01.

The roster (``--roster FILE``, :func:`read_roster`) is a UTF-8 CSV file whose header names its columns:
``folder`` (the student's folder name in the class folder) and ``id`` (the student's id in the LMS: Canvas's
*SIS User ID*, Moodle's *ID number*) are required, ``name``, ``email`` and ``section`` optional.

The LMS files hold the students of the roster (folders it does not name have no id an LMS could match):

- ``canvas.csv`` (:func:`write_canvas`), Canvas's gradebook import. Canvas's importer
  (``lib/gradebook_importer.rb`` of instructure/canvas-lms) takes a header row whose first cell holds
  ``Student``, whose second holds ``ID``, optionally followed by ``SIS User ID`` and ``SIS Login ID``, and
  whose last student column is ``Section``; every further header is an assignment, matched by its Canvas id
  when written ``Name (id)``, else by its exact title, else created. A row whose first cell holds
  ``Points Possible`` gives each assignment its points (a new assignment is created with them; Canvas's own
  export writes it as ``    Points Possible``, and so does this file). A student is matched by ``ID`` (Canvas's
  user id), else ``SIS User ID``, else ``SIS Login ID``, else by name. Canvas's export rounds scores to two
  decimals. The columns written: ``Student`` (the roster's name, else the folder), ``ID`` (empty), ``SIS User
  ID`` (the roster's id), ``SIS Login ID`` (empty), ``Section`` (the roster's section), and the assignment
  (``--assignment``) with the total.
- ``moodle.csv`` (:func:`write_moodle`), Moodle's grade import from CSV (Grade administration > Import > CSV
  file; MoodleDocs "Grade import"; ``grade/import/csv/classes/load_data.php`` of moodle/moodle). The first row
  names the columns; on the preview page the instructor maps one column to the user field that identifies the
  student ("Identify user by": ``userid``, ``useridnumber``, ``useremail`` or ``username``; here ``ID number``
  → ``useridnumber``, or ``Email address`` → ``useremail``) and each grade column to a grade item (or a new
  one). Every further row is one student: a row whose identifier is empty or unknown aborts the whole import,
  and so does a grade that is not a number (an empty grade or ``-`` is "no grade"). There is no maximum row:
  the grade item's maximum is set in Moodle. The encoding is chosen on the import form; UTF-8 is the standard.

Both are UTF-8, comma-separated, one header row, every cell through :func:`grader.reports.inert.csv_row` (a
name or id starting with ``=``, ``+``, ``-`` or ``@`` gets a leading ``'``; the points are numbers).

The output folder's marker, :data:`MARKER` (:class:`Manifest`), says the folder is ``grade batch``'s: the
students and their report files, the other files the batch wrote, and what graded them (``--only``, the
dataset, the secret's fingerprint), so a later ``--student`` run can regrade into it and a later run can remove
exactly the files it no longer writes.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
from pathlib import Path

from grader.reports import inert
from grader.reports.result import Result

DECIMALS = 2
MARKER = ".grade-batch"  # JSON; not ``*.json``, so ``grade diff`` never reads it as a report
GRADEBOOK, CANVAS, MOODLE = "gradebook.csv", "canvas.csv", "moodle.csv"
NO_SUBMISSION, NOT_IN_ROSTER = "no submission", "not in the roster"
CANVAS_STUDENT_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
CANVAS_POINTS_POSSIBLE = "    Points Possible"
MOODLE_ID, MOODLE_EMAIL = "ID number", "Email address"


def points(x: float) -> float:
    """``x`` rounded to :data:`DECIMALS` decimals (``-0.0`` as ``0.0``)."""
    return round(x, DECIMALS) + 0.0


# ------------------------------------------------------------------------------------------------- the roster

@dataclasses.dataclass(frozen=True)
class Student:
    """One roster entry: the student's folder name, LMS id, and what else the roster says."""

    folder: str
    id: str
    name: str = ""
    email: str = ""
    section: str = ""


REQUIRED, OPTIONAL = ("folder", "id"), ("name", "email", "section")


def read_roster(path: Path) -> dict[str, Student]:
    """The roster at ``path`` by folder name; :class:`ValueError` saying what is wrong (a missing column, an empty
    folder or id, a folder or id listed twice). Cells are stripped of surrounding spaces; other columns are
    ignored; a byte-order mark (as spreadsheets save) is accepted."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = [h.strip() for h in reader.fieldnames or ()]
            missing = [c for c in REQUIRED if c not in header]
            if missing:
                raise ValueError(f"the roster {path} has no {' and no '.join(missing)} column (its header: "
                                 f"{','.join(header) or 'none'}; needed: folder,id, optional name,email,section)")
            reader.fieldnames = header
            entries: dict[str, Student] = {}
            ids: set[str] = set()
            for line, row in enumerate(reader, 2):
                cells = {k: (row.get(k) or "").strip() for k in (*REQUIRED, *OPTIONAL)}
                if not any(cells.values()):
                    continue  # a blank line
                for column in REQUIRED:
                    if not cells[column]:
                        raise ValueError(f"the roster {path}, line {line}: no {column}")
                if cells["folder"] in entries:
                    raise ValueError(f"the roster {path}, line {line}: folder {cells['folder']!r} listed twice")
                if cells["id"] in ids:
                    raise ValueError(f"the roster {path}, line {line}: id {cells['id']!r} listed twice")
                ids.add(cells["id"])
                entries[cells["folder"]] = Student(**cells)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"cannot read the roster {path}: {exc}") from None
    return entries


# ------------------------------------------------------------------------------------------------- the table

@dataclasses.dataclass(frozen=True)
class Row:
    """A student's line of the gradebook (points rounded, :func:`points`)."""

    student: str
    per_target: tuple[float, ...]
    public: float
    hidden: float
    max: float
    roster: Student | None = None
    note: str = ""

    @property
    def total(self) -> float:
        return points(self.public + self.hidden)


def row(student: str, result: Result, targets: list[str], roster: Student | None = None, note: str = "") -> Row:
    """The row of ``student``'s ``result``: per target the points of its public checks, then the sums."""
    per_target = {t: 0.0 for t in targets}
    public = hidden = 0.0
    for c in result.checks:
        if c.hidden:
            hidden += c.points
        else:
            public += c.points
            if c.target in per_target:
                per_target[c.target] += c.points
    return Row(student, tuple(points(per_target[t]) for t in targets), points(public), points(hidden),
               points(result.max_score), roster, note)


def rows(results: dict[str, Result], targets: list[str], roster: dict[str, Student] | None,
         class_max: float) -> list[Row]:
    """The gradebook's rows, by folder name: each result's; with a roster, each entry without a folder gets a
    row of 0 of ``class_max`` noted :data:`NO_SUBMISSION`, and each folder it does not name is noted
    :data:`NOT_IN_ROSTER`."""
    out = []
    for student, result in results.items():
        entry = roster.get(student) if roster is not None else None
        out.append(row(student, result, targets, entry, NOT_IN_ROSTER if roster is not None and entry is None else ""))
    for folder, entry in (roster or {}).items():
        if folder not in results:
            out.append(Row(folder, tuple(0.0 for _ in targets), 0.0, 0.0, points(class_max), entry, NO_SUBMISSION))
    return sorted(out, key=lambda r: r.student)


def class_max(results: dict[str, Result]) -> float:
    """The class's maximum: the largest of the students' (they are equal when every student ran the same checks)."""
    return max((r.max_score for r in results.values()), default=0.0)


def _open(path: Path):
    # A folder's name need not be UTF-8 (its undecodable bytes reach Python as surrogates): written escaped.
    return open(path, "w", newline="", encoding="utf-8", errors="backslashreplace")


def write_gradebook(path: Path, table: list[Row], targets: list[str], with_roster: bool) -> None:
    """``gradebook.csv``: the columns of the module's docstring."""
    with _open(path) as f:
        writer = csv.writer(f)
        writer.writerow(inert.csv_row(["student", *(["id", "name"] if with_roster else []), *targets,
                                       "public", "hidden", "total", "max", *(["note"] if with_roster else [])]))
        for r in table:
            who = [r.roster.id if r.roster else "", r.roster.name if r.roster else ""] if with_roster else []
            writer.writerow(inert.csv_row([r.student, *who, *r.per_target, r.public, r.hidden, r.total, r.max,
                                           *([r.note] if with_roster else [])]))


def in_lms(table: list[Row]) -> list[Row]:
    """The rows an LMS file holds: the roster's students."""
    return [r for r in table if r.roster is not None]


def write_canvas(path: Path, table: list[Row], assignment: str, points_possible: float) -> None:
    """``canvas.csv``: Canvas's gradebook import (module docstring), the total under ``assignment``."""
    with _open(path) as f:
        writer = csv.writer(f)
        writer.writerow(inert.csv_row([*CANVAS_STUDENT_COLUMNS, assignment]))
        writer.writerow(inert.csv_row([CANVAS_POINTS_POSSIBLE, "", "", "", "", points(points_possible)]))
        for r in in_lms(table):
            writer.writerow(inert.csv_row([r.roster.name or r.student, "", r.roster.id, "", r.roster.section,
                                           r.total]))


def write_moodle(path: Path, table: list[Row], assignment: str) -> None:
    """``moodle.csv``: Moodle's grade import from CSV (module docstring): ``ID number``, ``Email address`` when
    the roster has emails, and the total under ``assignment``."""
    lms = in_lms(table)
    emails = any(r.roster.email for r in lms)
    with _open(path) as f:
        writer = csv.writer(f)
        writer.writerow(inert.csv_row([MOODLE_ID, *([MOODLE_EMAIL] if emails else []), assignment]))
        for r in lms:
            writer.writerow(inert.csv_row([r.roster.id, *([r.roster.email] if emails else []), r.total]))


# ------------------------------------------------------------------------------------------ the folder's marker

@dataclasses.dataclass
class Manifest:
    """What :data:`MARKER` holds: the students graded into the folder (id → report file stem), the other files
    the batch wrote there, how they were graded, the roster and assignment name of the exports, and the
    students' wrong-answer fingerprints (for the class summary of a later ``--student`` run)."""

    students: dict[str, str] = dataclasses.field(default_factory=dict)
    files: list[str] = dataclasses.field(default_factory=list)
    only: list[str] | None = None
    dataset: str | None = None
    secret: str | None = None
    course: str | None = None          # the course file's SHA-256 (None: the kit's rubric)
    roster: dict[str, dict] | None = None
    assignment: str | None = None
    fingerprints: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)

    KIND = "dl-basics-grader grade batch"

    def written(self) -> set[str]:
        """Every file name of the folder the batch wrote (reports, gradebook, exports, summary)."""
        return set(self.files) | {f"{stem}{suffix}" for stem in self.students.values() for suffix in (".json", ".md")}

    def roster_entries(self) -> dict[str, Student] | None:
        return None if self.roster is None else {k: Student(**v) for k, v in self.roster.items()}

    def write(self, folder: Path) -> None:
        """Write the marker into ``folder`` (atomically: a marker is whole or the previous one)."""
        tmp = folder / f"{MARKER}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps({"kind": self.KIND, **dataclasses.asdict(self)}, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, folder / MARKER)

    @classmethod
    def read(cls, folder: Path) -> "Manifest | None":
        """The marker of ``folder``, ``None`` without one; :class:`ValueError` when it is not one of ours."""
        path = folder / MARKER
        if not path.is_file():
            return None
        try:
            raw = json.loads(path.read_text())
            if raw.pop("kind", None) != cls.KIND:
                raise ValueError("not written by grade batch")
            manifest = cls(**raw)
        except (ValueError, TypeError, OSError) as exc:
            raise ValueError(f"{path} is unreadable ({exc})") from None
        if any(not _plain_file_name(n) for n in manifest.written()):
            raise ValueError(f"{path} names a file outside its folder")
        return manifest


def _plain_file_name(name: str) -> bool:
    return (isinstance(name, str) and name == os.path.basename(name) and name not in ("", ".", "..")
            and not name.startswith(".") and "\0" not in name)


def holds_marker(folder: Path) -> bool:
    """Whether ``folder`` is one ``grade batch`` wrote: it holds :data:`MARKER` (or, written before the marker
    existed, a ``gradebook.csv``)."""
    return (folder / MARKER).is_file() or (folder / GRADEBOOK).is_file()


def remove_stale(folder: Path, before: set[str], now: set[str]) -> list[str]:
    """Remove the files the batch wrote before (``before``) and no longer writes (``now``): regular files of
    those names, directly in ``folder``, nothing else. Their names, sorted."""
    removed = []
    for name in sorted(before - now):
        path = folder / name
        if _plain_file_name(name) and path.is_file() and not path.is_symlink():
            path.unlink()
            removed.append(name)
    return removed

"""The course file: an instructor's settings over the kit's rubric, in one TOML file (``grading.toml``).

Every front end reads the same file, so a course grades the same way everywhere: ``grade`` and ``grade batch``
(``--course FILE``, else ``grading.toml`` in the current folder), ``pytest exercises/`` (``--dl-course``, else the
file in the folder pytest runs from or above the exercises), the nbgrader step and the Gradescope autograder (the
file beside them, which ``grade release`` and ``grade gradescope`` copy there). Without a file the kit's rubric
applies as it is. Every key is optional::

    [limits]
    time_limit = 60            # seconds: one function's checks, one training, the imports of one child
    time_budget = 600          # seconds: a whole submission

    [data]
    dataset = "digits"         # or "fashion-mnist"

    [checks."train.mlp"]       # any check id of the rubric (grade rubric lists them)
    points = 6
    threshold = 0.95           # a training's pass line (accuracy, parameter error or test loss)
    rtol = 1e-5                # tolerances of a comparison
    atol = 1e-6
    visible = true             # false: shown to students only once grades are published (Gradescope)

    [hidden]                   # points of each function's hidden check (with an instructor's secret)
    softmax = 3

    [forbidden]                # the routines that solve a function outright, replacing the kit's list
    relu = ["jax.nn.relu", "flax.nnx.relu"]   # (the kit itself, "grader", stays forbidden to every function)

A key the kit does not know, a check id that does not exist or a value of the wrong type is refused with the file,
the key and what is allowed (:class:`CourseFileError`, status 2), never ignored. The file's SHA-256 goes into every
report's environment and the manifest, so ``grade diff`` can say when two gradings used different course files.

:func:`apply` sets the rubric (:mod:`grader.rubric`) of this process to the course's; the sandboxed child gets the
course as JSON and applies it too (its tripwire watches the course's forbidden routines).
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import tomllib
from pathlib import Path

from grader.errors import CourseFileError

COURSE_FILE = "grading.toml"
_CHECK_KEYS = {"points": (int, float), "threshold": (int, float), "rtol": (int, float), "atol": (int, float),
               "visible": (bool,)}
_LIMIT_KEYS = {"time_limit": (int, float), "time_budget": (int, float)}
_SECTIONS = ("limits", "data", "checks", "hidden", "forbidden")
DEFAULT_TIME_LIMIT = 60.0   # seconds: one function's checks, one training task, the imports of one child
DEFAULT_TIME_BUDGET = 600.0  # seconds: the whole submission, every import, check, training and restart included


@dataclasses.dataclass(frozen=True)
class Course:
    """What a course file sets (every field empty: the kit's rubric as it is)."""

    name: str | None = None                                  # the file's name, for messages
    sha256: str | None = None                                # of the file's bytes
    checks: dict[str, dict[str, float | bool]] = dataclasses.field(default_factory=dict)
    hidden: dict[str, float] = dataclasses.field(default_factory=dict)
    forbidden: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    time_limit: float | None = None
    time_budget: float | None = None
    dataset: str | None = None
    text: str = ""                                           # the file itself, for the copies a release ships

    def write_into(self, folder: str | Path) -> Path | None:
        """Copy the course file into ``folder`` as ``grading.toml`` (where every front end there finds it); none
        for the kit's rubric."""
        if not self.sha256:
            return None
        path = Path(folder) / COURSE_FILE
        path.write_text(self.text, encoding="utf-8")
        return path

    def to_json(self) -> str:
        return json.dumps({**dataclasses.asdict(self), "forbidden": {k: list(v) for k, v in self.forbidden.items()}})

    @classmethod
    def from_json(cls, text: str) -> Course:
        d = json.loads(text)
        return cls(**{**d, "forbidden": {k: tuple(v) for k, v in d["forbidden"].items()}})

    def describe(self) -> str:
        """'grading.toml (sha256 1a2b3c4d…)', or 'the kit's rubric'."""
        return f"{self.name} (sha256 {self.sha256[:12]})" if self.sha256 else "the kit's rubric"


KIT_RUBRIC = Course()


def _fail(name: str, where: str, why: str) -> CourseFileError:
    return CourseFileError(f"{name}: {where}: {why}")


def _check_value(name: str, where: str, value, kinds) -> None:
    """Raise :class:`CourseFileError` unless ``value`` is of ``kinds``: true or false, or a number that is not
    negative."""
    if not isinstance(value, kinds) or (bool not in kinds and isinstance(value, bool)):
        wanted = "true or false" if bool in kinds else "a number"
        raise _fail(name, where, f"{value!r} is not {wanted}")
    if bool not in kinds and value < 0:
        raise _fail(name, where, f"{value!r} is negative")


def parse(text: str, name: str = COURSE_FILE) -> Course:
    """The course ``text`` (TOML) says, checked against the rubric (see the module docstring)."""
    from grader import rubric
    from grader.data import datasets

    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CourseFileError(f"{name}: not valid TOML: {exc}") from None
    for section in raw:
        if section not in _SECTIONS:
            raise _fail(name, f"[{section}]", f"unknown section; the sections are {', '.join(_SECTIONS)}")
    fields: dict = {"name": name, "sha256": hashlib.sha256(text.encode()).hexdigest(), "text": text}
    for key, value in raw.get("limits", {}).items():
        if key not in _LIMIT_KEYS:
            raise _fail(name, f"[limits] {key}", f"unknown key; the keys are {', '.join(_LIMIT_KEYS)}")
        _check_value(name, f"[limits] {key}", value, _LIMIT_KEYS[key])
        if not value > 0:
            raise _fail(name, f"[limits] {key}", "must be > 0")
        fields[key] = float(value)
    for key, value in raw.get("data", {}).items():
        if key != "dataset":
            raise _fail(name, f"[data] {key}", "unknown key; the key is dataset")
        if value not in datasets.DATASETS:
            raise _fail(name, "[data] dataset", f"{value!r} is not one of {', '.join(datasets.DATASETS)}")
        fields["dataset"] = value
    checks = {}
    for check_id, settings in raw.get("checks", {}).items():
        if check_id not in rubric.KIT_IDS or check_id.endswith(".hidden"):
            close = difflib.get_close_matches(check_id, [c.id for c in rubric.KIT_CHECKS], n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise _fail(name, f"[checks.\"{check_id}\"]", f"no such check ({hint}grade rubric lists the check ids; "
                        "the hidden checks' points are set under [hidden])")
        if not isinstance(settings, dict):
            raise _fail(name, f"checks.\"{check_id}\"", "must be a table of settings")
        for key, value in settings.items():
            where = f"[checks.\"{check_id}\"] {key}"
            if key not in _CHECK_KEYS:
                raise _fail(name, where, f"unknown key; the keys are {', '.join(_CHECK_KEYS)}")
            if key == "threshold" and rubric.KIT_IDS[check_id].threshold is None:
                raise _fail(name, where, "this check has no threshold (only the training checks do)")
            _check_value(name, where, value, _CHECK_KEYS[key])
        checks[check_id] = dict(settings)
    fields["checks"] = checks
    hidden = {}
    for function, points in raw.get("hidden", {}).items():
        if function not in rubric.STUDENT_FUNCTIONS:
            raise _fail(name, f"[hidden] {function}", f"not a student function ({', '.join(rubric.STUDENT_FUNCTIONS)})")
        _check_value(name, f"[hidden] {function}", points, (int, float))
        hidden[function] = float(points)
    fields["hidden"] = hidden
    forbidden = {}
    for function, names in raw.get("forbidden", {}).items():
        if function not in rubric.STUDENT_FUNCTIONS:
            raise _fail(name, f"[forbidden] {function}",
                        f"not a student function ({', '.join(rubric.STUDENT_FUNCTIONS)})")
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise _fail(name, f"[forbidden] {function}", "must be a list of dotted names, e.g. [\"jax.nn.relu\"]")
        forbidden[function] = tuple(dict.fromkeys([*names, "grader"]))
    fields["forbidden"] = forbidden
    return Course(**fields)


def load(path: str | Path) -> Course:
    """The course file at ``path``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CourseFileError(f"cannot read the course file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    return parse(text, path.name)


def find(given: str | None, *folders: str | Path) -> Course:
    """The course of a run: the file ``given`` (``--course``), else ``grading.toml`` in the first of ``folders``
    (default: the current folder) that has one, else the kit's rubric."""
    if given:
        return load(given)
    for folder in folders or (Path.cwd(),):
        candidate = Path(folder) / COURSE_FILE
        if candidate.is_file():
            return load(candidate)
    return KIT_RUBRIC


_current = KIT_RUBRIC


def apply(course: Course) -> None:
    """Make ``course`` the rubric of this process (see :func:`grader.rubric.configure`)."""
    global _current
    from grader import rubric

    rubric.configure(course)
    _current = course


def current() -> Course:
    """The course this process grades with (:func:`apply`)."""
    return _current


def rubric_table() -> str:
    """The rubric in force, one line per check: id, points, threshold or tolerances, visibility, description; then
    the hidden checks' points and the course file (``grade rubric``)."""
    from grader import rubric

    lines = [f"{'check':<38} {'points':>6}  {'pass line':<22} description"]
    for c in rubric.CHECKS:
        line = f"threshold {c.threshold:g}" if c.threshold is not None else f"rtol {c.rtol:g}, atol {c.atol:g}"
        shown = "" if c.visible else " (after publication)"
        lines.append(f"{c.id:<38} {c.points:>6g}  {line:<22} {c.description}{shown}")
    lines.append(f"{'public checks':<38} {rubric.MAX_SCORE:>6g}")
    hidden = ", ".join(f"{c.target} {c.points:g}" for c in rubric.HIDDEN_CHECKS)
    lines.append(f"{'hidden checks (with a secret)':<38} {rubric.HIDDEN_MAX_SCORE:>6g}  {hidden}")
    lines.append(f"rubric: {current().describe()}")
    return "\n".join(lines)

"""The points of ``nbgrader autograde``, from the kit's sandbox instead of the notebook's kernel.

An autograder cell of the chapter's notebooks calls :func:`grader.notebook.check`, which runs in the notebook's
kernel, beside the student's code: anything a student cell does (patch the checker, the judge, the reference
cache, or call the library through ``getattr``) can change what that cell reports. So the kernel's run is a
self-check only, and :class:`SandboxGrades`, a step of nbgrader's autograde pipeline, scores the notebook again
from outside: for each notebook it

1. writes the notebook's code as a module folder laid out like ``exercises/`` (:func:`write_submission`): the
   code cells but the autograder cells, in order, each kept to its *definitions* (imports, functions, classes,
   assignments) the way a module keeps scripts under ``if __name__ == "__main__":``; imports of the course's
   given-code package (``from chapter.x import ...``) become relative imports of a copy of it in the folder;
2. grades the functions the notebook defines with the sandbox (:func:`grader.grading.grade`): their
   code runs only in the confined child, the reference and the judges in this process;
3. replaces every autograder cell's outputs by the check's message (stdout) and its points (the cell's result,
   which nbgrader's ``SaveAutoGrades`` reads as partial credit), whatever the kernel printed or returned.

It sits right before ``SaveAutoGrades`` (see :func:`autograde_preprocessors`), so the gradebook receives the
sandbox's points and the autograded notebook, hence ``generate_feedback``, shows its messages. If the sandbox
cannot run at all, the step raises: nbgrader then reports the submission as failed, and the notebook's grades
are cleared (no score, flagged for manual grading) rather than left to the kernel's run or an older one.

The reference is computed in this process, never read from the on-disk cache: a notebook's kernel runs as the
same user and could have written that cache.

By default the course's pipeline does not execute the notebooks at all (``execute=False``): the kernel's
points are discarded anyway, and a kernel runs unconfined, as the instructor's user, so a student cell could
otherwise write the gradebook itself. ``execute=True`` keeps nbgrader's ``Execute`` step for instructors who
want the students' outputs in the autograded notebooks; the sandbox's points still win over the kernel's.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import NamedTuple

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool, Unicode

from grader.errors import SandboxGradeError
from grader.reports import inert

_DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assign,
                ast.AnnAssign, ast.AugAssign)


# -- 1. the notebook's code as a module folder ------------------------------------------------------------------

def _is_grade_cell(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution")


class _GivenImports(ast.NodeTransformer):
    """``from chapter.x import a`` → ``from .chapter.x import a``; ``import chapter.x as m`` →
    ``from .chapter import x as m``: the child has no ``chapter`` on its path, the folder is a package."""

    def __init__(self, package: str):
        self.package = package

    def _ours(self, name: str | None) -> bool:
        return bool(name) and (name == self.package or name.startswith(self.package + "."))

    def visit_ImportFrom(self, node: ast.ImportFrom):
        if node.level == 0 and self._ours(node.module):
            return ast.copy_location(ast.ImportFrom(module=node.module, names=node.names, level=1), node)
        return node

    def visit_Import(self, node: ast.Import):
        if not any(self._ours(a.name) for a in node.names):
            return node
        out: list[ast.stmt] = []
        for a in node.names:
            if not self._ours(a.name):
                out.append(ast.Import(names=[a]))
                continue
            parent, _, last = a.name.rpartition(".")
            if a.asname:  # import chapter.x as m: binds the submodule
                out.append(ast.ImportFrom(module=parent or None, names=[ast.alias(last, a.asname)], level=1))
            else:  # import chapter.x: binds chapter, with x loaded
                out.append(ast.ImportFrom(module=None, names=[ast.alias(self.package)], level=1))
                if parent:
                    out.append(ast.parse(f"__import__(__package__ + '.{a.name}')").body[0])
        return [ast.copy_location(n, node) for n in out]


def _mentions_ipython(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Name) and n.id == "get_ipython" for n in ast.walk(node))


def _definitions(source: str, package: str) -> tuple[list[ast.stmt], str | None]:
    """The top-level definitions of one cell, its given-code imports made relative; or ([], why) when the
    cell does not parse."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        text = TransformerManager().transform_cell(source)  # %magic and !shell lines → get_ipython() calls
        tree = ast.parse(text)
    except SyntaxError as exc:
        return [], f"line {exc.lineno}: {exc.msg}"
    except Exception as exc:  # IPython's transformer on malformed input
        return [], f"{type(exc).__name__}: {exc}"
    keep = [n for n in tree.body
            if isinstance(n, _DEFINITIONS) and not _mentions_ipython(n)
            and not (isinstance(n, ast.ImportFrom) and n.module == "__future__")]
    module = _GivenImports(package).visit(ast.Module(body=keep, type_ignores=[]))
    return ast.fix_missing_locations(module).body, None


def _given_package_name() -> str:
    from grader.authoring.course import ASSIGNMENT  # the course's package of given code has the assignment's name
    return ASSIGNMENT


def _is_students(cell) -> bool:
    """Whether the student wrote the cell: a solution cell, or one they added (no nbgrader metadata). Locked cells
    are the instructor's: nbgrader's autograde restores them from the gradebook (``OverwriteCells``)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("solution")) or not (meta.get("locked") or meta.get("grade"))


class _Part(NamedTuple):
    """One code cell of a notebook's module: its number, whether the student wrote it, its definitions' text."""
    cell: int
    students: bool
    text: str


_SEPARATOR = "\n\n"  # between the parts of a module


def _module_parts(nb, package: str) -> tuple[list[_Part], list[str]]:
    """The parts of the notebook's module (its code cells but the autograder cells, in order, those without
    definitions left out) and a note for each cell left out because it does not parse."""
    parts, notes = [], []
    for index, cell in enumerate(nb.cells, start=1):
        if cell.cell_type != "code" or _is_grade_cell(cell):
            continue
        body, problem = _definitions(cell.source, package)
        if problem:
            notes.append(f"code cell {index} was left out of grading: it has a syntax error ({problem})")
        elif body:
            text = f"# cell {index}\n{ast.unparse(ast.Module(body=body, type_ignores=[]))}\n"
            parts.append(_Part(index, _is_students(cell), text))
    return parts, notes


def _students_lines(parts: list[_Part]) -> dict[int, int]:
    """``{line: code cell}`` for the lines of the module joined from ``parts`` that come from the student's cells."""
    lines, start = {}, 1
    for part in parts:
        end = start + part.text.count("\n")  # a part ends with a newline
        if part.students:
            lines.update(dict.fromkeys(range(start, end), part.cell))
        start = end + _SEPARATOR.count("\n")
    return lines


def notebook_module(nb, package: str | None = None, students_only: bool = False) -> tuple[str, list[str]]:
    """The module of a notebook: the definitions of its code cells but the autograder cells, in order (with
    ``students_only``, of the cells the student wrote only: what the policy for submitted code checks).

    Returns ``(source, notes)``; a note names each cell left out because it does not parse (the kernel would
    have skipped it too).
    """
    parts, notes = _module_parts(nb, package or _given_package_name())
    return _SEPARATOR.join(p.text for p in parts if p.students or not students_only), notes


class Written(NamedTuple):
    """What :func:`write_submission` wrote: the notes of the cells left out, where the student's cells lie in the
    module (``{line: code cell}``), and the policy's refusal of their code (None when it was accepted)."""
    notes: list[str]
    students_lines: dict[int, int]
    refused: str | None


def write_submission(nb, notebook_id: str, folder: Path, given: Path | None) -> Written:
    """Write ``folder/<notebook_id>.py`` (:func:`notebook_module`) and a copy of the given-code package
    ``given`` as ``folder/chapter/``.

    The cells the student wrote are held to the policy for submitted code (:mod:`grader.engine.code_policy`);
    when they break it, the module is one whose import raises the reason, so its functions score nothing and say
    which line and construct. (The sandbox then takes the folder as checked: the rest is the instructor's.)"""
    from grader.engine import code_policy

    parts, notes = _module_parts(nb, _given_package_name())
    students = _SEPARATOR.join(p.text for p in parts if p.students)
    violations = code_policy.check_file(f"{notebook_id}.py", students)
    folder.mkdir(parents=True, exist_ok=True)
    refused = code_policy.refusal(f"the {notebook_id} notebook", violations) if violations else None
    if refused:
        (folder / f"{notebook_id}.py").write_bytes(code_policy.refusing_module(refused))
    else:
        (folder / f"{notebook_id}.py").write_text(_SEPARATOR.join(p.text for p in parts), encoding="utf-8")
    if given is not None and given.is_dir():
        shutil.copytree(given, folder / _given_package_name(), ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return Written(notes, _students_lines(parts), refused)


# The review notes of the static scan and of the tripwire that point at code read "<file>:<line>: <what>".
_LOCATED = re.compile(r"(?P<file>[^\s:]+):(?P<line>\d+): (?P<what>.*)", re.S)
_MORE = re.compile(r"\.\.\. and \d+ more")  # review_flags' count of the notes past its cap, others' included


def students_review(review, module: str, students_lines: dict[int, int]) -> tuple[str, ...]:
    """The review notes about the code the student wrote: those pointing at a line of theirs in ``module``, placed
    by the notebook's code cell, and those about the run itself (no place). Notes pointing at the instructor's
    code (the given cells, the ``chapter`` package, which import the kit's trusted functions) are left out."""
    kept = []
    for note in review:
        located = _LOCATED.fullmatch(note)
        if located is None:
            if not _MORE.fullmatch(note):
                kept.append(note)
        elif located["file"] == module and int(located["line"]) in students_lines:
            kept.append(f"code cell {students_lines[int(located['line'])]}: {located['what']}")
    return tuple(dict.fromkeys(kept))


# -- 2. grading in the sandbox ----------------------------------------------------------------------------------

def notebook_functions(notebook_id: str) -> list[str]:
    """The student functions a notebook defines: those whose exercise module has the notebook's name."""
    from grader import rubric
    return [f for f, module in rubric.STUDENT_FUNCTIONS.items() if module == notebook_id]


def rubric_cells(nb) -> dict[str, object]:
    """``{check id: cell}`` for the notebook's autograder cells that stand for rubric checks."""
    from grader import rubric
    from grader.authoring import course
    by_grade_id = {course.grade_id(c.id): c.id for c in rubric.CHECKS + rubric.HIDDEN_CHECKS}
    out = {}
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if cell.cell_type == "code" and _is_grade_cell(cell) and gid in by_grade_id:
            out[by_grade_id[gid]] = cell
    return out


def _sandbox_failure(run) -> str | None:
    """Why a sandbox run says nothing about the student: every probe failed before the submission was loaded.

    No student code runs before the child reports loading (the folder has no ``__init__.py``), so a child
    that died that early is the grader's failure, not a score of 0."""
    messages = [obs.errors.get("*", "") for obs in run.observations.values()]
    if messages and all("before loading the submission" in m for m in messages):
        return messages[0]
    return None


@contextlib.contextmanager
def _no_reference_disk_cache():
    """The reference is observed in this process, never read from the disk cache: a kernel or any other
    unconfined student code runs as the same user and could have written that cache (digest included)."""
    before = os.environ.get("DL_BASICS_NO_CACHE")
    os.environ["DL_BASICS_NO_CACHE"] = "1"
    try:
        yield
    finally:
        if before is None:
            del os.environ["DL_BASICS_NO_CACHE"]
        else:
            os.environ["DL_BASICS_NO_CACHE"] = before


def grade_notebook(nb, notebook_id: str, given: Path | None, require_isolation: bool = False, hidden=None):
    """Grade the functions ``nb`` defines in the sandbox (with ``hidden``, a
    :class:`~grader.grading.HiddenInputs`, their hidden checks too); return ``(Result, notes)``. The result's
    notes for review are those about the cells the student wrote (:func:`students_review`), after the policy's
    refusal of their code, if any.

    Raises :class:`SandboxGradeError` when the sandbox cannot run.
    """
    from grader import grading, rubric
    from grader.engine import sandbox
    from grader.engine.plan import GradingPlan

    functions = notebook_functions(notebook_id)
    probes = rubric.probes_for_functions(functions)
    with tempfile.TemporaryDirectory(prefix="nbgrader-sandbox-") as tmp:
        folder = Path(tmp) / "submission"
        written = write_submission(nb, notebook_id, folder, given)
        try:
            with _no_reference_disk_cache():
                # nbgrader's settings make the plan: the code was checked by write_submission (accept_code)
                plan = GradingPlan(probes=probes, limits=sandbox.Limits(lanes=sandbox.idle_lanes(), accept_code=True),
                                   require_isolation=require_isolation, secret=hidden.secret if hidden else None,
                                   student=hidden.student if hidden else None)
                result, run = grading.grade(folder, plan)
        except Exception as exc:
            raise SandboxGradeError(f"the sandbox could not grade {notebook_id}: {type(exc).__name__}: {exc}") \
                from exc
    failure = _sandbox_failure(run)
    if failure:
        raise SandboxGradeError(f"the sandbox could not grade {notebook_id}: {failure}")
    review = students_review(result.review, f"{notebook_id}.py", written.students_lines)
    if written.refused:
        review = (written.refused, *review)
    return dataclasses.replace(result, review=review), written.notes


# -- 3. the autograder cells' outputs ---------------------------------------------------------------------------

def score_cell(cell, check) -> None:
    """Replace the cell's outputs by the check's feedback (stdout; control characters removed, as the message may
    quote the student's exception) and its points (the cell's result)."""
    verdict = "passed" if check.passed else "FAILED"
    text = (f"{check.id}: {verdict}, {check.points:g}/{check.max_points:g} points. {inert.text(check.message)}\n"
            "(scored by the grader's sandbox, outside the notebook)\n")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text=text),
        nbformat.v4.new_output("execute_result", data={"text/plain": repr(float(check.points))},
                               execution_count=cell.get("execution_count")),
    ]


def score_notebook(nb, result, notes: list[str] = ()) -> None:
    """Score every rubric autograder cell of ``nb`` from ``result``; a check missing from it is an error."""
    by_id = {c.id: c for c in result.checks}
    for check_id, cell in rubric_cells(nb).items():
        if check_id not in by_id:
            raise SandboxGradeError(f"the sandbox did not grade {check_id}, which this notebook has a cell for")
        score_cell(cell, by_id[check_id])
        if notes and not by_id[check_id].passed:
            cell.outputs[0]["text"] += "".join(f"Note: {inert.text(n)}\n" for n in notes)


class SandboxGrades(NbGraderPreprocessor):
    """Score the rubric's autograder cells with the sandbox (see the module docstring). Place before
    ``SaveAutoGrades``."""

    require_isolation = Bool(
        False, help="Refuse to grade unless every confinement layer of the sandbox is available."
    ).tag(config=True)
    secret_file = Unicode(
        "", help="The instructor's secret, for the hidden checks' cells (default: $DL_BASICS_SECRET). Keep it "
                 "outside the course folder and every student's reach."
    ).tag(config=True)

    def _hidden_inputs(self, cells: dict, student: str):
        """The secret and ``student``'s id when the notebook has hidden checks' cells; none without such cells.
        Hidden cells without a secret stop autograde: they must never be scored as if they had run."""
        from grader import grading, rubric
        from grader.engine import secret
        if not any(rubric.BY_ID[c].probe in rubric.HIDDEN_PROBES for c in cells):
            return None
        try:
            key = secret.Secret.find(self.secret_file or None)
        except secret.SecretError as exc:
            raise SandboxGradeError(str(exc)) from None
        if key is None:
            raise SandboxGradeError("the notebook has hidden checks' cells, but no secret is set: set "
                                    "c.SandboxGrades.secret_file in nbgrader_config.py (or $DL_BASICS_SECRET)")
        if self.secret_file:
            try:
                secret.refuse_readable_by_children(self.secret_file, Path(tempfile.gettempdir()) / "submission")
            except secret.SecretError as exc:
                raise SandboxGradeError(str(exc)) from None
        return grading.HiddenInputs(key, student)

    course_file = Unicode(
        "", help="The course file (grading.toml) whose rubric the cells were released with (default: grading.toml "
                 "in the course folder, when there is one)."
    ).tag(config=True)

    def _coursedir(self):
        owner = self.parent  # the exporter, whose parent is the Autograde converter with the course directory
        while owner is not None and not hasattr(owner, "coursedir"):
            owner = owner.parent
        if owner is None:
            from nbgrader.coursedir import CourseDirectory
            return CourseDirectory(parent=self)
        return owner.coursedir

    def _given_package(self, assignment: str) -> Path | None:
        """The course's given-code package, from the assignment's source folder (the instructor's copy)."""
        coursedir = self._coursedir()
        path = Path(coursedir.format_path(coursedir.source_directory, ".", assignment)) / _given_package_name()
        return path if path.is_dir() else None

    def _apply_course(self) -> None:
        """Grade with the course file's rubric, as every other front end does (:mod:`grader.course_file`)."""
        from grader import course_file as course
        try:
            course.apply(course.find(self.course_file or None, self._coursedir().root))
        except course.CourseFileError as exc:
            raise SandboxGradeError(str(exc)) from None

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        notebook_id, assignment, student = info["notebook"], info["assignment"], info["student"]
        cells = rubric_cells(nb)
        if not cells:
            return nb, resources
        self.log.info("Grading %s of %s in the sandbox", notebook_id, student)
        try:
            self._apply_course()
            if not notebook_functions(notebook_id):
                raise SandboxGradeError(f"{notebook_id} has autograder cells ({', '.join(cells)}) but defines none "
                                        "of the student functions: the course does not match the rubric")
            result, notes = grade_notebook(nb, notebook_id, self._given_package(assignment), self.require_isolation,
                                           self._hidden_inputs(cells, student))
            score_notebook(nb, result, notes)
        except Exception:
            _clear_scores(info, self.log)
            raise
        graded = [c for c in result.checks if c.id in cells]
        self.log.info("%s of %s: %g/%g points from the sandbox (%s)", notebook_id, student,
                      sum(c.points for c in graded), sum(c.max_points for c in graded),
                      (result.isolation or {}).get("summary", "isolation not reported"))
        for note in result.review:
            self.log.warning("%s of %s, for review: %s", notebook_id, student, note)
        return nb, resources


def _clear_scores(info: dict, log) -> None:
    """Leave the notebook's grades without an automatic score, flagged for manual grading."""
    from nbgrader.api import Gradebook
    try:
        with Gradebook(info["db_url"]) as gb:
            notebook = gb.find_submission_notebook(info["notebook"], info["assignment"], info["student"])
            for grade in notebook.grades:
                grade.auto_score = None
                grade.needs_manual_grade = True
            gb.db.commit()
    except Exception as exc:  # the original error is the one to report
        log.error("could not clear the grades of %s: %s", info["notebook"], exc)


def autograde_preprocessors(execute: bool = False) -> list:
    """nbgrader's autograde pipeline with :class:`SandboxGrades` right before ``SaveAutoGrades``, and without
    ``Execute`` unless ``execute``."""
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import Execute, SaveAutoGrades

    steps = list(Autograde.autograde_preprocessors.default())
    if SaveAutoGrades not in steps:
        raise RuntimeError("this nbgrader's autograde pipeline has no SaveAutoGrades step to precede")
    if not execute:
        steps = [s for s in steps if s is not Execute]
    steps.insert(steps.index(SaveAutoGrades), SandboxGrades)
    return steps

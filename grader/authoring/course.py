"""Build an nbgrader course from ``solutions/``: one notebook per chapter section.

    python -m grader.authoring.course COURSE_DIR [--hidden-checks]

writes ``COURSE_DIR/nbgrader_config.py`` (whose autograde pipeline scores the autograder cells with the kit's
sandbox, :mod:`grader.nbgrader_step`) and ``COURSE_DIR/source/chapter/``: a notebook per section (the module
docstring as a markdown cell, given code in read-only cells, each student function in a solution cell, and after
it one autograder cell per rubric check, ``grade_id`` = the check's id (dots as dashes), ``points`` = the rubric's
points), plus the ``chapter`` package of given code that later sections import (its student functions call the
trusted library versions, so a section's notebook runs whatever the student did in the others). The build is a
pipeline of small steps and is deterministic: the same solutions give byte-identical files.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

import nbformat

from grader import KIT_DIR, rubric
from grader.authoring import build

KIT = KIT_DIR
ASSIGNMENT = "chapter"
SECTIONS = ("autograd", "linear_regression", "softmax_regression", "mlp", "polynomial", "weight_decay")
SETUP = ('import os\nos.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep XLA quiet: stderr costs points\n'
         "import warnings\nwarnings.filterwarnings(\"ignore\")")

CONFIG = '''c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "dl-basics"
c.CourseDirectory.root = "."
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}
c.ExecutePreprocessor.timeout = 600
# Points come from the kit's sandbox, not from the notebooks' kernels (see grader/nbgrader_step.py): student code
# runs only in the sandbox. execute=True also runs each notebook in a kernel, for its outputs; the sandbox's
# points still win, but that kernel runs unconfined, as the user running nbgrader. Without the step no nbgrader
# command may run here: traitlets would only log the error and autograde with the kernels' points.
try:
    from grader.nbgrader_step import autograde_preprocessors
    c.Autograde.autograde_preprocessors = autograde_preprocessors(execute=False)
except Exception as exc:
    raise SystemExit(f"nbgrader_config.py: the grader's sandbox step is unavailable ({exc!r})") from exc
'''

HIDDEN_CONFIG = (
    "# The hidden checks' inputs are drawn from this secret and each student's id: a file outside the course\n"
    "# folder and every student's reach (or the secret itself in $DL_BASICS_SECRET). Without it autograde stops.\n"
    '# c.SandboxGrades.secret_file = "/path/to/course-secret"\n'
)

_RELATIVE = re.compile(r"^(\s*)from \.(\w+) import (.+?)(\s*#.*)?$")


def rewrite_imports(code: str) -> str:
    """``from .module import a, f`` → student functions from the trusted library, given code from ``chapter``."""
    out = []
    for line in code.splitlines():
        m = _RELATIVE.match(line)
        if not m:
            out.append(line)
            continue
        indent, module, names = m.group(1), m.group(2), [n.strip() for n in m.group(3).split(",")]
        students = [n for n in names if n in rubric.STUDENT_FUNCTIONS]
        given = [n for n in names if n not in rubric.STUDENT_FUNCTIONS]
        if given:
            out.append(f"{indent}from {ASSIGNMENT}.{module} import {', '.join(given)}")
        if students:
            out.append(f"{indent}from grader.engine.trusted import {', '.join(students)}"
                       "  # the library's, for this notebook")
    return "\n".join(out)


def _meta(**fields) -> dict:
    return {"nbgrader": {"schema_version": 3, "task": False, **fields}}


def _code(source: str, cell_id: str, **nbgrader) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source, metadata=_meta(**nbgrader) if nbgrader else {})
    cell["id"] = cell_id
    return cell


def _markdown(source: str, cell_id: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_markdown_cell(source, metadata=_meta(grade=False, solution=False, locked=True,
                                                                grade_id=cell_id))
    cell["id"] = cell_id
    return cell


def grade_id(check_id: str) -> str:
    """nbgrader's ``grade_id`` of a check: its id with dots as dashes (nbgrader allows only [A-Za-z0-9_-])."""
    return check_id.replace(".", "-")


def test_cell(check: rubric.Check, cell_id: str) -> nbformat.NotebookNode:
    body = f'from grader.notebook import check\ncheck("{check.id}")'
    if not check.visible:
        body = f"### BEGIN HIDDEN TESTS\n{body}\n### END HIDDEN TESTS"
    source = f"# {check.id}: {check.description} ({check.points:g} points)\n{body}"
    return _code(source, cell_id, grade=True, solution=False, locked=True, points=check.points,
                 grade_id=grade_id(check.id))


def _chunks(source: str):
    """Split a module into (kind, text, name) chunks: imports/constants, one per def/class, the main guard."""
    tree = ast.parse(source)
    lines = source.splitlines()
    body = tree.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        yield "doc", body[0].value.value, None
        body = body[1:]
    group: list[str] = []
    starts = [(n.decorator_list[0].lineno if getattr(n, "decorator_list", None) else n.lineno) - 1 for n in body]
    for k, node in enumerate(body):
        # a chunk runs to the next statement, so trailing comments (### END SOLUTION) stay with their def
        end = starts[k + 1] if k + 1 < len(body) else len(lines)
        text = "\n".join(lines[starts[k]:end]).rstrip()
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            if group:
                yield "given", "\n".join(group), None
                group = []
            yield "def", text, node.name
        elif isinstance(node, ast.If) and "__main__" in ast.unparse(node.test):
            continue
        else:
            group.append(text)
    if group:
        yield "given", "\n".join(group), None


def section_notebook(module: str, source: str, hidden: bool = False) -> nbformat.NotebookNode:
    """The notebook of one section (see the module docstring); with ``hidden``, each student function's hidden
    check follows its public ones, in a cell nbgrader strips from the release (``BEGIN HIDDEN TESTS``)."""
    cells = []
    n = 0

    def cid(kind: str) -> str:
        nonlocal n
        n += 1
        return f"{module.replace('_', '-')}-{n:02d}-{kind}"

    checks_by_target: dict[str, list[rubric.Check]] = {}
    for c in rubric.CHECKS + (rubric.HIDDEN_CHECKS if hidden else ()):
        checks_by_target.setdefault(c.target, []).append(c)
    title = module.replace("_", " ").capitalize()
    cells.append(_code(SETUP, cid("setup"), grade=False, solution=False, locked=True, grade_id=cid("setup-id")))
    for kind, text, name in _chunks(source):
        if kind == "doc":
            cells.append(_markdown(f"# {title}\n\n{text.strip()}", cid("intro")))
        elif kind == "def" and build.BEGIN in text:
            cells.append(_code(rewrite_imports(text), cid("solution"), grade=False, solution=True, locked=False,
                               grade_id=f"{name}-solution"))
            for check in checks_by_target.get(name, []):
                cells.append(test_cell(check, cid("test")))
        else:
            cells.append(_code(rewrite_imports(text), cid("given"), grade=False, solution=False, locked=True,
                               grade_id=cid("given-id")))
    if module in checks_by_target:  # the section's training check comes last, after all its code
        cells.append(_markdown("## Training with your functions\n\nThe grader trains the section's model with "
                               "the functions you wrote above.", cid("training")))
        for check in checks_by_target[module]:
            cells.append(test_cell(check, cid("test")))
    if "def main(" in source:
        cells.append(_markdown("Run `main()` in a new cell to see this section's results.", cid("run")))
    nb = nbformat.v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"}})
    nbformat.validate(nb)
    return nb


def build_course(dest: Path, solutions: Path = KIT / "solutions", hidden: bool = False) -> list[Path]:
    """Write the course; return the files written. ``hidden``: with the hidden checks' cells (their points come
    from the instructor's secret, ``c.SandboxGrades.secret_file``)."""
    source_dir = dest / "source" / ASSIGNMENT
    package = source_dir / ASSIGNMENT
    package.mkdir(parents=True, exist_ok=True)
    written = [dest / "nbgrader_config.py"]
    written[0].write_text(CONFIG + (HIDDEN_CONFIG if hidden else ""))
    for module in SECTIONS:
        text = (solutions / f"{module}.py").read_text()
        path = source_dir / f"{module}.ipynb"
        path.write_text(nbformat.writes(section_notebook(module, text, hidden)) + "\n")
        written.append(path)
        stand_in = build.clear_solutions(text, module, stub=build.library_stub) if build.has_solution(text) else text
        (package / f"{module}.py").write_text(build.GENERATED_NOTE + stand_in)
        written.append(package / f"{module}.py")
    (package / "__init__.py").write_text('"""Given code of the chapter, for the notebooks."""\n')
    written.append(package / "__init__.py")
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("course_dir", type=Path)
    parser.add_argument("--hidden-checks", action="store_true",
                        help="add each function's hidden check (inputs drawn from your secret and the student's id; "
                             "set c.SandboxGrades.secret_file in nbgrader_config.py, or $DL_BASICS_SECRET)")
    parser.add_argument("--course", metavar="FILE",
                        help="the course file whose points the cells carry (default: grading.toml here, if any); it "
                             "is copied into the course folder, where the autograde step reads it")
    args = parser.parse_args(argv)
    from grader import course_file as course
    from grader.options import GradeOptions
    GradeOptions(course=args.course).with_course()
    files = build_course(args.course_dir, hidden=args.hidden_checks)
    if course.current().write_into(args.course_dir):
        files.append(args.course_dir / course.COURSE_FILE)
    print(f"wrote {len(files)} files to {args.course_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Build the student exercises from the reference solutions.

Every module of ``solutions/`` is copied to ``exercises/`` with each solution region replaced by a stub::

        ### HINT: subtract the row max before exp            # dropped from the copy
        ### BEGIN SOLUTION
        ...reference code...                                   # becomes: # YOUR CODE HERE
        ### END SOLUTION                                       #          raise NotImplementedError("<hint>")

The markers are nbgrader's, so the same sources also feed nbgrader's ``ClearSolutions`` for the notebooks.
``python -m grader.authoring.build`` rewrites ``exercises/`` and the digests of their statements that the code
policy exempts (``grader/engine/released_statements.json``, see :mod:`grader.engine.code_policy`); ``--check`` only
reports drift (exit 1 when out of date).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from grader import KIT_DIR

KIT = KIT_DIR
BEGIN, END, HINT = "### BEGIN SOLUTION", "### END SOLUTION", "### HINT:"
GENERATED_NOTE = ("# Generated from solutions/ by `python -m grader.authoring.build`: "
                  "edit the solutions, not this file.\n")


class MarkerError(ValueError):
    pass


def raising_stub(indent: str, hint: str, function: str, params: str) -> list[str]:
    """The students' stub: ``raise NotImplementedError(hint)``."""
    raise_line = f"raise NotImplementedError({hint!r})" if hint else "raise NotImplementedError()"
    return [f"{indent}# YOUR CODE HERE\n", f"{indent}{raise_line}\n"]


def library_stub(indent: str, hint: str, function: str, params: str) -> list[str]:
    """A stand-in that calls the trusted library version (for given code shipped beside notebooks)."""
    args = ", ".join(p.split("=")[0].split(":")[0].strip() for p in params.split(",") if p.strip())
    return [f"{indent}from grader.engine.trusted import {function} as library_version\n",
            f"{indent}return library_version({args})\n"]


_DEF = re.compile(r"^\s*def (\w+)\((.*)\)")


def clear_solutions(source: str, name: str = "<source>", stub=raising_stub) -> str:
    """Replace every solution region of ``source`` with ``stub(indent, hint, function, params)`` lines
    (by default a stub raising ``NotImplementedError(hint)``)."""
    out: list[str] = []
    lines = source.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith(HINT):
            nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
            if nxt != BEGIN:
                raise MarkerError(f"{name}:{i + 1}: {HINT} must stand right above {BEGIN}")
            i += 1
            continue
        if stripped == END:
            raise MarkerError(f"{name}:{i + 1}: {END} without {BEGIN}")
        if stripped != BEGIN:
            out.append(line)
            i += 1
            continue
        indent = line[: len(line) - len(line.lstrip())]
        hint = lines[i - 1].strip()[len(HINT):].strip() if i and lines[i - 1].strip().startswith(HINT) else ""
        j = i + 1
        while j < len(lines) and lines[j].strip() != END:
            if lines[j].strip() == BEGIN:
                raise MarkerError(f"{name}:{j + 1}: nested {BEGIN}")
            j += 1
        if j == len(lines):
            raise MarkerError(f"{name}:{i + 1}: {BEGIN} without {END}")
        function, params = next(((m.group(1), m.group(2)) for m in map(_DEF.match, reversed(out)) if m),
                                ("", ""))
        out.extend(stub(indent, hint, function, params))
        i = j + 1
    return "".join(out)


def has_solution(source: str) -> bool:
    return any(line.strip() == BEGIN for line in source.splitlines())


def build_exercises(solutions: Path = KIT / "solutions") -> dict[str, str]:
    """The exercise files (relative path → text) that ``solutions`` produce."""
    files = {}
    for path in sorted(solutions.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        rel = path.relative_to(solutions).as_posix()
        text = path.read_text()
        if has_solution(text):
            text = GENERATED_NOTE + clear_solutions(text, rel)
        files[rel] = text
    return files


def drift(files: dict[str, str], exercises: Path) -> list[str]:
    """Paths that differ between the built ``files`` and the ``exercises`` directory (missing or extra too)."""
    present = {p.relative_to(exercises).as_posix() for p in exercises.rglob("*.py") if "__pycache__" not in p.parts}
    problems = [f"{rel} is missing" for rel in sorted(set(files) - present)]
    problems += [f"{rel} is not built from solutions/" for rel in sorted(present - set(files))]
    problems += [f"{rel} differs" for rel in sorted(set(files) & present)
                 if (exercises / rel).read_text() != files[rel]]
    return problems


def write(files: dict[str, str], exercises: Path) -> None:
    exercises.mkdir(parents=True, exist_ok=True)
    for p in exercises.rglob("*.py"):
        if "__pycache__" not in p.parts and p.relative_to(exercises).as_posix() not in files:
            p.unlink()
    for rel, text in files.items():
        target = exercises / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def baseline_drift(files: dict[str, str], path: Path | None = None) -> list[str]:
    """A problem when the code policy's baseline (``path``, by default the one shipped in the package) is not the
    one the exercise ``files`` give."""
    from grader.engine import code_policy  # imported here: it loads the rubric, and with it JAX

    path = path or code_policy.BASELINE_FILE
    current = path.read_text(encoding="utf-8") if path.exists() else None
    return [] if current == code_policy.baseline_json(files) else [f"{path.name} is out of date"]


def write_baseline(files: dict[str, str], path: Path | None = None) -> Path:
    """Write the code policy's baseline for the exercise ``files`` (by default into the package)."""
    from grader.engine import code_policy

    path = path or code_policy.BASELINE_FILE
    path.write_text(code_policy.baseline_json(files), encoding="utf-8")
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--solutions", type=Path, default=KIT / "solutions")
    parser.add_argument("--exercises", type=Path, default=KIT / "exercises")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="the code policy's released statements (default: the file shipped in grader/engine/)")
    parser.add_argument("--check", action="store_true", help="report drift instead of writing")
    args = parser.parse_args(argv)
    files = build_exercises(args.solutions)
    if args.check:
        problems = [f"exercises/{p}" for p in drift(files, args.exercises)] + baseline_drift(files, args.baseline)
        for p in problems:
            print(p, file=sys.stderr)
        return 1 if problems else 0
    write(files, args.exercises)
    baseline = write_baseline(files, args.baseline)
    print(f"wrote {len(files)} files to {args.exercises} and the released statements to {baseline.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

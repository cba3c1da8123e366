"""Build submission folders for the CLI tests: a copy of solutions/ with some functions rewritten."""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

from grader import rubric

KIT = Path(__file__).resolve().parent.parent


def make(target: Path, bodies: dict[str, str] | None = None, append: dict[str, str] | None = None,
         source: Path = KIT / "solutions") -> Path:
    """Copy ``source`` to ``target``; give each function in ``bodies`` a new body; append code to modules."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "test_*.py"))
    for name, body in (bodies or {}).items():
        path = target / f"{rubric.STUDENT_FUNCTIONS[name]}.py"
        text = path.read_text()
        pattern = re.compile(r"(    ### BEGIN SOLUTION\n).*?(    ### END SOLUTION\n)", re.S)
        start = text.index(f"def {name}(")
        match = pattern.search(text, start)
        text = text[:match.start()] + match.group(1) + textwrap.indent(textwrap.dedent(body).strip("\n"), "    ") \
            + "\n" + match.group(2) + text[match.end():]
        path.write_text(text)
    for module, code in (append or {}).items():
        path = target / f"{module}.py"
        path.write_text(path.read_text() + "\n" + textwrap.dedent(code))
    return target

"""The kit's imports point down: no import circle in ``grader``, and no module imports one of a higher layer.

The graph is read from the source with :mod:`ast`, not by importing: every ``import`` and ``from ... import`` of a
``grader`` module counts, wherever it stands (at module level, inside a function, under ``TYPE_CHECKING`` or
``if __name__ == "__main__"``). ``from grader.x import y`` is an arrow to ``grader.x.y`` when that is a module,
else to ``grader.x``. Imports inside strings (the code a subprocess runs) are not imports of the module.

The layers, lowest first (README, "Layout"); a module may import its own layer's modules and lower ones:

1. base — the errors, the observations, and the leaves every stage uses: the package itself (its folders), the
   cache folders, the library versions of the functions, describing a student's exception, inert text;
2. data — the classification sets;
3. checks — the probes' calls, known mistakes and judges;
4. rubric — the table of checks, the course file over it, and where a submission's files are (``locate``);
5. engine — what runs student code and what it is compared with, and the grading plan;
6. reports — the result and its formats, figures, class view, gradebook, manifest, regrade;
7. pipeline — ``grading``: probe, observe the reference, judge;
8. front ends and authoring — ``grade`` and its commands, the pytest plugin, nbgrader, the options.
"""

from __future__ import annotations

import ast
from pathlib import Path

from grader import PACKAGE_DIR

BASE = ("grader", "grader.errors", "grader.observations", "grader.engine.cache_dir", "grader.engine.compile_cache",
        "grader.engine.trusted", "grader.engine.student_errors", "grader.reports.inert")
# Each layer by module names or package prefixes (``grader.data`` holds grader.data.*); the most specific wins.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("base", BASE),
    ("data", ("grader.data",)),
    ("checks", ("grader.checks",)),
    ("rubric", ("grader.rubric", "grader.course_file", "grader.locate")),
    ("engine", ("grader.engine",)),
    ("reports", ("grader.reports",)),
    ("pipeline", ("grader.grading",)),
    ("front ends", ("grader.options", "grader.cli", "grader.__main__", "grader.batch", "grader.pytest_plugin",
                    "grader.notebook", "grader.nbgrader_step", "grader.progress", "grader.section_script",
                    "grader.authoring")),
)


def modules() -> dict[str, Path]:
    """Every module of the package, by dotted name (a package by its own name)."""
    found = {}
    for path in PACKAGE_DIR.rglob("*.py"):
        parts = ("grader", *path.relative_to(PACKAGE_DIR).with_suffix("").parts)
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The kit's modules that module ``name`` imports, anywhere in its source (see the module docstring)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[:len(package.split(".")) - node.level + 1], *filter(None, [base])])
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import grader.engine.trusted as t`: the module itself
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def layer(name: str) -> int:
    """The layer of module ``name``: its own entry, else the longest package prefix that holds it."""
    best, rank = -1, None
    for i, (_, names) in enumerate(LAYERS):
        for entry in names:
            if (name == entry or (entry != "grader" and name.startswith(entry + "."))) and len(entry) > best:
                best, rank = len(entry), i
    assert rank is not None, f"{name} is in no layer: add it to LAYERS (and to README's Layout)"
    return rank


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The import circles: the strongly connected components of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_both_kinds_of_import():
    edges = graph()
    assert "grader.engine.sandbox" in edges["grader.grading"] or "grader.engine.sandbox" in edges["grader.cli"]
    assert "grader.rubric" in edges["grader.engine.probing"]  # module level
    assert "grader.engine.compile_cache" in edges["grader.data.datasets"]  # inside a function


def test_no_import_circles():
    assert cycles(graph()) == []


def test_no_arrow_points_up():
    up = [f"{a} ({LAYERS[layer(a)][0]}) imports {b} ({LAYERS[layer(b)][0]})"
          for a, targets in sorted(graph().items()) for b in sorted(targets) if layer(b) > layer(a)]
    assert up == []


def test_the_engine_never_imports_a_front_end():
    front = {"grader.options", "grader.grading", "grader.cli", "grader.batch", "grader.pytest_plugin"}
    engine = {a: t & front for a, t in graph().items() if a.startswith(("grader.engine", "grader.checks",
                                                                         "grader.data", "grader.rubric"))}
    assert {a: t for a, t in engine.items() if t} == {}


def test_the_base_imports_only_the_base():
    edges = graph()
    assert {m: edges[m] - set(BASE) for m in BASE if edges[m] - set(BASE)} == {}

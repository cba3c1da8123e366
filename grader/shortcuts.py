"""Forbidden library shortcuts: a library call that solves an exercise outright.

The rubric names, per student function, library functions it may not call (``jax.nn.softmax`` inside
``softmax``, say). The scan reads the submission's *source* — it never runs it — resolves import aliases
(``import optax as ox``, ``from jax import nn``, ``from jax.nn import relu as r``), and follows calls into the
module's own helper functions, so a shortcut hidden in a helper is found too.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterable

from . import rubric


def _aliases(tree: ast.AST) -> dict[str, str]:
    """Local name → dotted module path, for every import in the source."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    names[a.asname] = a.name
                else:
                    root = a.name.split(".")[0]
                    names[root] = root
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                names[a.asname or a.name] = f"{node.module}.{a.name}"
    return names


def _dotted(node: ast.AST) -> list[str] | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id, *reversed(parts)]
    return None


def _reachable(tree: ast.Module, function: str) -> list[ast.AST]:
    """The definition of ``function`` and of every module-level function it (transitively) names."""
    defs = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    todo, seen = [function], []
    while todo:
        name = todo.pop()
        if name in seen or name not in defs:
            continue
        seen.append(name)
        todo.extend(n.id for n in ast.walk(defs[name]) if isinstance(n, ast.Name) and n.id in defs)
    return [defs[n] for n in seen]


def _parse(source: str) -> ast.Module | None:
    """``ast.parse``, or None for a syntax error. CPython 3.11 can raise a spurious SystemError ("AST constructor
    recursion depth mismatch") while another thread compiles code; such a parse is simply tried again."""
    for _ in range(5):
        try:
            return ast.parse(source)
        except SyntaxError:
            return None
        except SystemError:
            continue
    return None


def find(source: str, function: str, forbidden: Iterable[str]) -> list[str]:
    """The forbidden names that ``function`` in ``source`` refers to, in order of appearance."""
    forbidden = tuple(forbidden)
    if not forbidden:
        return []
    tree = _parse(source)
    if tree is None:
        return []
    aliases = _aliases(tree)
    found: list[str] = []
    for definition in _reachable(tree, function):
        for node in ast.walk(definition):
            parts = _dotted(node) if isinstance(node, (ast.Attribute, ast.Name)) else None
            if not parts or parts[0] not in aliases:
                continue
            full = ".".join([aliases[parts[0]], *parts[1:]])
            for name in forbidden:
                if (full == name or full.startswith(name + ".")) and name not in found:
                    found.append(name)
    return found


def message(function: str, names: list[str]) -> str:
    return (f"{function} calls {', '.join(names)}, which solves the exercise outright: write it yourself with "
            "jax.numpy operations (none of its checks score while it does)")


def scan_sources(sources: dict[str, str]) -> dict[str, str]:
    """``{function: message}`` for each student function whose module source (``{module: text}``) uses a shortcut."""
    out = {}
    for function, module in rubric.STUDENT_FUNCTIONS.items():
        names = find(sources.get(module, ""), function, rubric.FORBIDDEN_SHORTCUTS.get(function, ()))
        if names:
            out[function] = message(function, names)
    return out


def scan_directory(directory: str | Path) -> dict[str, str]:
    """Scan a submission folder's modules (read as text, never imported)."""
    sources = {}
    for module in set(rubric.STUDENT_FUNCTIONS.values()):
        path = Path(directory) / f"{module}.py"
        try:
            sources[module] = path.read_text(errors="replace")
        except OSError:
            continue
    return scan_sources(sources)

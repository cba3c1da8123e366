"""What a name of a scanned submission can denote: a library name, a module or code of the submission, every
name of a module, an attribute chosen at run time, or a note saying what cannot be checked.

The scan (:mod:`.resolve`) maps each expression to a list of these; the rules (:mod:`.rules`) decide which of them
a student function may not reach.
"""

from __future__ import annotations

import ast
import dataclasses
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from grader.engine.shortcuts.bindings import Module


@dataclasses.dataclass(frozen=True)
class Ext:
    """A name outside the submission, fully dotted: ``jax.nn.relu``, ``builtins.exec``."""
    dotted: str


@dataclasses.dataclass(frozen=True)
class Imported:
    """A name an import statement of reached code brings in: it counts as used, but runs nothing."""
    dotted: str


@dataclasses.dataclass(frozen=True)
class Mod:
    """A module (or package folder) of the submission. Not ``exact`` for an absolute import of a standard-library
    name: Python may import the library instead."""
    module: Module
    exact: bool = True


@dataclasses.dataclass(frozen=True)
class Node:
    """Code of the submission: a def, class, lambda or value expression, with its module and top statement."""
    node: ast.AST
    module: Module
    top: ast.stmt


@dataclasses.dataclass(frozen=True)
class All:
    """Every top-level name of a module: it was indexed by a computed name."""
    module: Module


@dataclasses.dataclass(frozen=True)
class Computed:
    """An attribute of a library object chosen by a name computed at run time."""
    dotted: str


@dataclasses.dataclass(frozen=True)
class Note:
    """Something that cannot be checked, worded for the student."""
    text: str


def under(name: str, prefix: str) -> bool:
    """``name`` is ``prefix`` or an attribute of it; a prefix ending in "*" matches any name starting so."""
    if prefix.endswith("*"):
        return name.startswith(prefix[:-1])
    return name == prefix or name.startswith(prefix + ".")


def display(dotted: str) -> str:
    """A dotted name as code writes it: a builtin without its module (``exec``, not ``builtins.exec``)."""
    return dotted.removeprefix("builtins.")


def unique(items: Iterable) -> list:
    """``items`` without repeats, in the order first seen."""
    return list(dict.fromkeys(items))


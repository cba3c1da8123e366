"""Forbidden shortcuts: a student function that takes its answer from a library, or from the grading kit.

The rubric names, per student function, what it may not use (``jax.nn.softmax`` inside ``softmax``, anything
of ``grader`` in any of them; matching is by dotted prefix). This module finds such uses by reading the
submission's *source*; it never imports or runs it.

What the scan follows
    * names: import aliases (``import optax as ox``, ``from jax import nn``), module-level values and aliases
      (``_r = nn.relu``, tuple unpacking, ``functools.partial(...)``, lambdas), default arguments, local
      variables, class attributes, static methods and what a helper returns (``_m().relu``);
    * code: every function, class and value that a student function names, transitively (cycles are cut),
      in every ``.py`` file of the submission (``from .helpers import f``, ``import helpers``, ``from .pkg
      import *``, subfolders), each resolved as Python's importer would (a package folder, or a compiled
      module, wins over a ``.py`` of the same name);
    * spelled-out lookups: ``getattr(jax.nn, "soft" + "max")``, ``importlib.import_module("jax.nn")``,
      ``__import__``, ``sys.modules[...]``, ``vars(m)[...]``, ``m.__dict__[...]``, ``globals()[...]`` and
      ``operator.attrgetter``, with the name folded from constants (concatenation, f-strings, ``"".join``,
      ``%``/``format``, slicing, and module or local string constants);
    * files as Python reads them: bytes are decoded by their coding cookie (``# coding: latin-1``, ``utf-7``),
      each file is parsed once per scan.

What fails closed (the function gets a message saying what cannot be checked, and loses its checks)
    code built at run time (``exec``, ``eval``, ``compile``, ``importlib`` loaders, ``pickle``, ``marshal``,
    ``types.FunctionType``); an attribute of a library, or a module, chosen by a computed name; in files, a
    global name the source never defines (it can only appear at run time); an assignment to an attribute of
    a library the rubric names (``jnp.maximum = ...``, ``setattr``) in the function's module, in a module that
    one imports at top level, or in any module whose code the function reaches (as when each notebook is graded
    on its own, a change made elsewhere is left to the run-time tripwire); and a module that cannot be
    checked: larger than ``MAX_SOURCE_BYTES`` (its size is read before the file), compiled, in a folder that is
    a symbolic link, undecodable, unparsable, or past the scan's ``MAX_TOTAL_BYTES``. A file that no student
    function reaches costs nothing.

Limits
    A static scan cannot see everything: values that flow through function arguments, containers filled at run
    time or objects built from data, names computed from data and then used on something that is not a module,
    and whatever the libraries do themselves all escape it. It is one layer: the sandbox's run-time tripwire,
    which watches what the student's code actually does, complements it, and :func:`review_flags` lists what
    an instructor may want to read by hand (never a penalty).

:func:`find` reads one source (a notebook's cells run one after another): a statement that does not parse is
skipped, as a notebook cell with a syntax error never ran. :func:`scan_sources` and :func:`scan_directory`
read modules: there a file that does not parse fails closed.

The package's modules, each with one job: :mod:`.parsing` (a file read as Python), :mod:`.layout` (which file is
which module), :mod:`.bindings` (the facts collected from a syntax tree), :mod:`.resolve` and :mod:`.lookups` (what
an expression may denote), :mod:`.folding` (constant strings), :mod:`.rules` (what a reached reference costs),
:mod:`.patches` (changes to libraries), :mod:`.reach` (what a student function reaches), :mod:`.messages` (the
feedback) and :mod:`.review` (the instructor's review notes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping

from grader.engine.shortcuts.layout import directory_files, single_file, source_files
from grader.engine.shortcuts.messages import message, messages
from grader.engine.shortcuts.parsing import MAX_SOURCE_BYTES
from grader.engine.shortcuts.reach import Scan
from grader.engine.shortcuts.review import MAX_FLAGS, review_flags
from grader.engine.shortcuts.rules import KIT_PACKAGE

__all__ = ["KIT_PACKAGE", "MAX_FLAGS", "MAX_SOURCE_BYTES", "find", "message", "review_flags", "scan_directory",
           "scan_sources"]


def find(source: str | bytes, function: str, forbidden: Iterable[str]) -> list[str]:
    """What ``function`` in ``source`` (one module, or a notebook's cells) uses of ``forbidden``, in order of
    appearance, and what in it cannot be checked (phrases with a space, e.g. "exec (code built at run time
    cannot be checked)"). Statements that do not parse are skipped (a notebook cell with a syntax error never
    ran); a source that cannot be decoded fails closed."""
    return Scan(single_file(source), strict=False, salvage=True).find("__main__", function, forbidden)


def scan_sources(sources: Mapping[str, str | bytes]) -> dict[str, str]:
    """``{function: message}`` for each student function that uses a shortcut, given the submission's modules as
    ``{module name: source}`` (student modules and any helper modules, e.g. ``"helpers"`` or ``"pkg.util"``)."""
    return messages(Scan(source_files(sources), strict=True))


def scan_directory(directory: str | Path) -> dict[str, str]:
    """Scan a submission folder: every module file in it (subfolders too) may be followed; nothing is imported."""
    return messages(Scan(directory_files(directory), strict=True))

"""Notes for an instructor's review, never a penalty: where a submission's code reaches for the grading kit, file
descriptors, ``/proc`` or ``/sys``, native code, signals, the network, subprocesses, frames, the module table,
builtins, code built at run time, tracing hooks, threads or exit hooks; what in it cannot be read. Every file is
reviewed, whether a student function reaches it or not.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Iterator

from grader.engine.shortcuts.bindings import Module
from grader.engine.shortcuts.denotes import Ext, display, under
from grader.engine.shortcuts.layout import MAX_FILES, directory_files, entry_for
from grader.engine.shortcuts.resolve import REFERENCES, Resolver, TooComplex
from grader.engine.shortcuts.rules import KIT_PACKAGE

MAX_FLAGS = 50  # review notes returned by review_flags

# What review_flags points out, by category (checked in order; "builtins" is the module named explicitly).
REVIEW_NAMES = (
    ("grading kit", (KIT_PACKAGE,)),
    ("file descriptors", ("os.write", "os.read", "os.dup", "os.dup2", "os.fdopen", "os.pipe", "os.open",
                          "os.set_inheritable")),
    ("native code", ("ctypes", "cffi", "mmap")),
    ("signals", ("signal", "os.kill", "os.killpg")),
    ("network", ("socket", "ssl", "http", "urllib", "requests")),
    ("subprocesses", ("subprocess", "os.system", "os.exec*", "os.fork", "os.spawn*", "os.posix_spawn*",
                      "os.popen", "pty")),
    ("frames and introspection", ("sys._getframe", "inspect", "gc", "traceback")),
    ("module table", ("sys.modules",)),
    ("code built at run time", ("importlib", "builtins.__import__", "builtins.exec", "builtins.eval",
                                "builtins.compile")),
    ("tracing hooks", ("sys.addaudithook", "sys.settrace", "sys.setprofile")),
    ("threads and processes", ("threading", "multiprocessing", "_thread", "concurrent.futures")),
    ("exit hooks", ("atexit",)),
    ("builtins", ("builtins",)),
)
FRAME_ATTRIBUTES = frozenset({"f_back", "f_globals", "f_locals", "f_builtins", "gi_frame", "cr_frame", "ag_frame",
                              "tb_frame", "__closure__", "__globals__"})
SYSTEM_PATH = re.compile(r"(?<![\w.])/(?:proc|sys)(?:/|$)")
_OPENERS = frozenset({"builtins.open", "io.open"})


def review_flags(directory: str | Path) -> list[str]:
    """Notes for an instructor's review, never a penalty: where the submission's code reaches for the grading
    kit, file descriptors, /proc or /sys, native code, signals, the network, subprocesses, frames, the module
    table, builtins, code built at run time, tracing hooks, threads or exit hooks. Each note reads
    "<file>:<line>: <what> (<category>)"; at most MAX_FLAGS, then "... and N more"."""
    files = directory_files(directory)
    resolver = Resolver(files, strict=False)
    flags = [(path, line, what, category) for path in files.paths
             for line, what, category in _file_flags(resolver, path)]
    flags += [(link, 1, "symbolic link to a folder: not followed", "unreadable") for link in files.links]
    if files.truncated:
        flags.append((".", 1, f"more than {MAX_FILES:,} module files: the rest were not reviewed", "size"))
    flags = [f for f in flags if not _given_kit_use(*f)]
    notes = [f"{path}:{line}: {what} ({category})" for path, line, what, category in sorted(set(flags))]
    if len(notes) > MAX_FLAGS:
        notes = notes[:MAX_FLAGS] + [f"... and {len(notes) - MAX_FLAGS} more"]
    return notes


# The kit's public face for the exercises' given code: loading the data, saving figures, running a section as a
# script, and the students' own test module. Reaching these is what the released exercises do, so it is not worth
# an instructor's review.
GIVEN_KIT_MODULES = (f"{KIT_PACKAGE}.data.datasets", f"{KIT_PACKAGE}.reports.figures", f"{KIT_PACKAGE}.section_script",
                     f"{KIT_PACKAGE}.pytest_plugin")


def _given_kit_use(path: str, line: int, what: str, category: str) -> bool:
    return category == "grading kit" and any(f" {m}." in f" {what}" or what.endswith(f" {m}")
                                             for m in GIVEN_KIT_MODULES)


def _file_flags(resolver: Resolver, path: str) -> Iterator[tuple[int, str, str]]:
    entry, _ = entry_for(path)
    if entry.kind == "compiled":
        yield 1, "compiled module: Python may import it, but its code cannot be read", "compiled code"
        return
    module = resolver.load(entry)
    if module.reason:
        yield 1, module.reason, module.category
        return
    resolver.steps = 0
    try:
        yield from _module_flags(resolver, module)
    except (RecursionError, TooComplex):
        yield 1, "too deeply nested or too complex to review", "size"


def _module_flags(resolver: Resolver, module: Module) -> Iterator[tuple[int, str, str]]:
    covered: set[int] = set()
    for top in module.tree.body:
        for node in ast.walk(top):
            if id(node) not in covered:
                yield from _node_flags(resolver, module, top, node, covered)


def _node_flags(resolver: Resolver, module: Module, top: ast.stmt, node: ast.AST,
                covered: set[int]) -> Iterator[tuple[int, str, str]]:
    """Flags for one node; the parts of a flagged attribute chain or string are ``covered`` (not flagged again)."""
    line = getattr(node, "lineno", 1)
    if isinstance(node, ast.Attribute):
        part = node.value
        while isinstance(part, (ast.Attribute, ast.Name)):
            covered.add(id(part))
            part = part.value if isinstance(part, ast.Attribute) else None
        if node.attr in FRAME_ATTRIBUTES:
            yield line, f"attribute .{node.attr}", "frames and introspection"
    if isinstance(node, REFERENCES):
        for ref in resolver.refs(node, module, top):
            if not isinstance(ref, Ext):
                continue
            implicit = isinstance(node, ast.Name) and ref.dotted == f"builtins.{node.id}"
            if category := _category(ref.dotted, implicit):
                yield line, f"uses {display(ref.dotted) if implicit else ref.dotted}", category
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        for name in resolver.import_names(node):
            if category := _category(name, False):
                yield line, f"imports {name}", category
    if isinstance(node, ast.Call) and node.args and _is_int(node.args[0]) and any(
            isinstance(r, Ext) and r.dotted in _OPENERS for r in resolver.refs(node.func, module, top)):
        yield line, f"open({node.args[0].value})", "file descriptors"
    if isinstance(node, (ast.Constant, ast.JoinedStr, ast.BinOp)):
        text = node.value.decode("latin-1") if isinstance(node, ast.Constant) and isinstance(
            node.value, bytes) else resolver.fold(node, module, top)
        if text is not None and SYSTEM_PATH.search(text):
            covered.update(id(n) for n in ast.walk(node))
            yield line, f"path {text[:60]!r}", "/proc or /sys path"


def _is_int(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is int


def _category(dotted: str, bare_builtin: bool) -> str | None:
    """The review category of a dotted name. A bare builtin (``len``, ``open``) counts only for the few named
    ones (exec, eval, compile, __import__); the ``builtins`` module named explicitly always counts."""
    for category, names in REVIEW_NAMES:
        if category == "builtins" and bare_builtin:
            continue
        if any(under(dotted, name) for name in names):
            return category
    return None

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
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import importlib.machinery
import importlib.util
import os
import re
import stat
import sys
from collections import deque
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping

from grader import rubric

MAX_SOURCE_BYTES = 1_000_000  # a larger file is not parsed: what lives in it, or reaches into it, cannot be checked
MAX_TOTAL_BYTES = 2 * MAX_SOURCE_BYTES  # all the Python one scan parses (each file is parsed once per scan)
MAX_FILES = 1_000  # Python files listed in a submission folder
MAX_FLAGS = 50  # review notes returned by review_flags
MAX_STEPS = 200_000  # name resolutions for one function before it counts as too complex to check

KIT_PACKAGE = __name__.partition(".")[0]  # the grading kit's own package, "grader"

# Code made at run time: the scan cannot see what it runs. A trailing "*" matches any name starting so.
RUNTIME_CODE = ("builtins.exec", "builtins.eval", "builtins.compile", "builtins.__import__", "importlib.*",
                "pickle.load", "pickle.loads", "marshal", "types.FunctionType", "types.CodeType", "runpy",
                "code.interact", "code.InteractiveInterpreter", "code.InteractiveConsole", "codeop")

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

_BUILTIN_NAMES = frozenset(dir(builtins))
_MODULE_DUNDERS = frozenset({"__name__", "__file__", "__doc__", "__spec__", "__loader__", "__package__", "__path__",
                             "__cached__", "__annotations__", "__builtins__", "__class__", "__module__",
                             "__qualname__", "__dict__"})
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_REFERENCES = (ast.Name, ast.Attribute, ast.Call, ast.Subscript)
_GETATTR = frozenset({"builtins.getattr", "inspect.getattr_static"})
_IMPORTERS = frozenset({"importlib.import_module", "builtins.__import__"})
_NAMESPACES = frozenset({"builtins.globals", "builtins.locals", "builtins.vars"})
_SETATTR = frozenset({"builtins.setattr", "builtins.delattr"})
_OPENERS = frozenset({"builtins.open", "io.open"})
_STR_METHODS = frozenset({"lower", "upper", "strip", "lstrip", "rstrip", "casefold", "swapcase", "title",
                          "capitalize"})
_FOLD_DEPTH = 24
_FOLD_LENGTH = 1_000
_WIDE_FORMAT = re.compile(r"\d{4,}")  # a width or precision that would build a huge string
_SALVAGE_ATTEMPTS = 200


# --- what a name can denote --------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class _Ext:
    """A name outside the submission, fully dotted: ``jax.nn.relu``, ``builtins.exec``."""
    dotted: str


@dataclasses.dataclass(frozen=True)
class _Imported:
    """A name an import statement of reached code brings in: it counts as used, but runs nothing."""
    dotted: str


@dataclasses.dataclass(frozen=True)
class _Mod:
    """A module (or package folder) of the submission. Not ``exact`` for an absolute import of a standard-library
    name: Python may import the library instead."""
    module: _Module
    exact: bool = True


@dataclasses.dataclass(frozen=True)
class _Node:
    """Code of the submission: a def, class, lambda or value expression, with its module and top statement."""
    node: ast.AST
    module: _Module
    top: ast.stmt


@dataclasses.dataclass(frozen=True)
class _All:
    """Every top-level name of a module: it was indexed by a computed name."""
    module: _Module


@dataclasses.dataclass(frozen=True)
class _Computed:
    """An attribute of a library object chosen by a name computed at run time."""
    dotted: str


@dataclasses.dataclass(frozen=True)
class _Note:
    """Something that cannot be checked, worded for the student."""
    text: str


# --- modules and their names ---------------------------------------------------------------------------------------

class _Unreadable(Exception):
    """A module that cannot be checked: ``reason`` completes "<path> ...", ``category`` labels a review flag."""

    def __init__(self, reason: str, category: str = "unreadable"):
        super().__init__(reason)
        self.reason, self.category = reason, category


class _TooComplex(Exception):
    """Resolving names took more than MAX_STEPS steps."""


@dataclasses.dataclass(frozen=True, eq=False)
class _Binding:
    """One way a name gets its value. ``kind``: "def" (``node`` is a def, class or lambda), "value" (``node`` is
    the expression assigned), "import" (``node`` is the import statement, ``alias`` its name), "star" (a ``from m
    import *``) or "bare" (bound to something unknown: a parameter, an ``except ... as`` name)."""
    kind: str
    node: ast.AST | None
    top: ast.stmt
    index: int  # position of ``top`` in the module body
    certain: bool = False  # a statement of the module body itself: it surely (re)binds the name
    alias: ast.alias | None = None


@dataclasses.dataclass
class _Scope:
    """What one top-level statement binds inside itself (locals of its functions, class attributes, loop
    variables, local imports), and which of its names are evaluated when the module is imported."""
    index: int
    values: dict[str, list[_Binding]] = dataclasses.field(default_factory=dict)
    import_time: set[int] = dataclasses.field(default_factory=set)
    annotations: set[int] = dataclasses.field(default_factory=set)


@dataclasses.dataclass(eq=False)
class _Module:
    """One module of the submission: its parsed source and top-level names, or why it cannot be checked."""
    name: str
    path: str
    is_package: bool = False
    tree: ast.Module | None = None
    reason: str | None = None
    category: str = "unreadable"
    bindings: dict[str, list[_Binding]] = dataclasses.field(default_factory=dict)
    stars: list[_Binding] = dataclasses.field(default_factory=list)
    top_index: dict[int, int] = dataclasses.field(default_factory=dict)
    scopes: dict[int, _Scope] = dataclasses.field(default_factory=dict)

    @property
    def problem(self) -> str | None:
        return f"{self.path} {self.reason}" if self.reason else None


def _target_names(target: ast.AST) -> Iterator[str]:
    """The plain names an assignment target binds (``a``, ``a, (b, *c)``), not attributes or subscripts."""
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            yield from _target_names(element)
    elif isinstance(target, ast.Starred):
        yield from _target_names(target.value)


def _parameters(args: ast.arguments) -> Iterator[tuple]:
    """(name, kind, default, None) for each parameter: a default is the value the name may hold."""
    positional = args.posonlyargs + args.args
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    for arg, default in [*zip(positional, defaults), *zip(args.kwonlyargs, args.kw_defaults)]:
        yield arg.arg, "value" if default is not None else "bare", default, None
    for arg in (args.vararg, args.kwarg):
        if arg is not None:
            yield arg.arg, "bare", None, None


def _binds(node: ast.AST) -> Iterator[tuple]:
    """(name, kind, value, alias) for each name that ``node`` itself binds (not its sub-statements)."""
    if isinstance(node, (*_FUNCTIONS, ast.ClassDef)):
        yield node.name, "def", node, None
    elif isinstance(node, ast.Assign):
        for target in node.targets:
            for name in _target_names(target):
                yield name, "value", node.value, None
    elif isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.NamedExpr)):
        for name in _target_names(node.target):
            yield name, "value" if node.value is not None else "bare", node.value, None
    elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
        for name in _target_names(node.target):
            yield name, "value", node.iter, None
    elif isinstance(node, (ast.With, ast.AsyncWith)):
        for item in node.items:
            for name in _target_names(item.optional_vars) if item.optional_vars is not None else ():
                yield name, "value", item.context_expr, None
    elif isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.asname or alias.name.partition(".")[0], "import", node, alias
    elif isinstance(node, ast.ImportFrom):
        for alias in node.names:
            yield alias.asname or alias.name, "star" if alias.name == "*" else "import", node, alias
    elif isinstance(node, ast.arguments):
        yield from _parameters(node)
    elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
        yield node.name, "bare", None, None
    elif isinstance(node, ast.MatchMapping) and node.rest:
        yield node.rest, "bare", None, None


def _statements(top: ast.AST) -> Iterator[tuple[ast.AST, bool]]:
    """``top`` and the statements, handlers and patterns nested in its blocks (not in def or class bodies), each
    with whether it is ``top`` itself: only a statement of the body it belongs to surely runs."""
    stack = [(top, True)]
    while stack:
        node, certain = stack.pop()
        yield node, certain
        if isinstance(node, (*_FUNCTIONS, ast.ClassDef)):
            continue
        if isinstance(node, ast.match_case):
            stack.extend((pattern, False) for pattern in ast.walk(node.pattern))
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            stack.extend((child, False) for child in getattr(node, field, ()) if isinstance(child, ast.AST))


def _index_module(module: _Module) -> None:
    """Record the module's top-level names: its statements' bindings, star imports, walrus targets at any depth
    and names that functions declare ``global`` and assign."""
    body = module.tree.body
    for index, top in enumerate(body):
        module.top_index[id(top)] = index
        for node, certain in _statements(top):
            for name, kind, value, alias in _binds(node):
                _add_binding(module, name, _Binding(kind, value, top, index, certain, alias))
    declared, with_global = set(), []
    for index, top in enumerate(body):
        for node in ast.walk(top):
            if isinstance(node, ast.Global):
                declared.update(node.names)
                with_global.append(index)
            elif isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name):
                _add_binding(module, node.target.id, _Binding("value", node.value, top, index))
    for index in dict.fromkeys(with_global):
        for node in ast.walk(body[index]):
            for name, kind, value, alias in _binds(node):
                if name in declared and kind != "star":
                    _add_binding(module, name, _Binding(kind, value, body[index], index, False, alias))


def _add_binding(module: _Module, name: str, binding: _Binding) -> None:
    (module.stars if binding.kind == "star" else module.bindings.setdefault(name, [])).append(binding)


def _build_scope(module: _Module, top: ast.stmt) -> _Scope:
    """The names ``top`` binds inside itself; which of its names run at import; which sit in annotations."""
    scope = _Scope(module.top_index[id(top)])
    stack = [(top, False, False)]
    while stack:
        node, deferred, annotation = stack.pop()
        if annotation:
            scope.annotations.add(id(node))
        elif isinstance(node, ast.Name) and not deferred:
            scope.import_time.add(id(node))
        for name, kind, value, alias in _binds(node):
            scope.values.setdefault(name, []).append(_Binding(kind, value, top, scope.index, False, alias))
        for field, value in ast.iter_fields(node):
            child_deferred = deferred or (field == "body" and isinstance(node, (*_FUNCTIONS, ast.Lambda)))
            child_annotation = annotation or field in ("annotation", "returns")
            for child in value if isinstance(value, list) else [value]:
                if isinstance(child, ast.AST):
                    stack.append((child, child_deferred, child_annotation))
    return scope


def _view(module: _Module, name: str, before: int | None) -> list[_Binding]:
    """The bindings (star imports included) that may give ``name`` its value: when a function runs (``before``
    None), or for code run at import by top statement ``before``. Bindings before the last one that surely
    rebinds the name are dead."""
    bindings = sorted([*module.bindings.get(name, ()), *module.stars], key=lambda b: b.index)
    if before is not None:
        bindings = [b for b in bindings if b.index <= before]
    start = 0
    for i, binding in enumerate(bindings):
        if binding.certain and (before is None or binding.index < before):
            start = i
    return bindings[start:]


# --- reading files -------------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class _Entry:
    """A module as the importer would find it: ``kind`` "source", "compiled", "namespace" (a plain folder) or
    "link" (a folder that is a symbolic link)."""
    name: str
    path: str
    kind: str = "source"
    is_package: bool = False
    data: str | bytes | None = None  # the text itself, for sources handed over in memory


@dataclasses.dataclass
class _Files:
    """The modules of one scan by import name, and where to read them."""
    entries: dict[str, _Entry]
    root: Path | None = None
    paths: tuple[str, ...] = ()  # every listed file of a folder, sorted
    links: tuple[str, ...] = ()  # its folders that are symbolic links
    truncated: bool = False  # the folder has more than MAX_FILES Python files

    def read(self, entry: _Entry) -> str | bytes:
        if entry.data is not None:
            _check_size(_size(entry.data))
            return entry.data
        return _read_capped(self.root / entry.path)


def _size(data: str | bytes) -> int:
    if isinstance(data, bytes) or len(data) > MAX_SOURCE_BYTES:
        return len(data)
    return len(data.encode("utf-8", "surrogatepass"))


def _check_size(size: int) -> None:
    if size > MAX_SOURCE_BYTES:
        raise _Unreadable(f"is too large to check ({size:,} bytes; the cap is {MAX_SOURCE_BYTES:,})", "size")


def _read_capped(path: Path) -> bytes:
    """The bytes of a regular file of at most MAX_SOURCE_BYTES; its size is checked before anything is read."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise _Unreadable("is not a regular file")
        _check_size(info.st_size)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise _Unreadable("is not a regular file")
            chunks, size = [], 0
            while chunk := os.read(fd, 1 << 16):
                size += len(chunk)
                _check_size(size)
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)
    except OSError as exc:
        raise _Unreadable(f"could not be read ({exc.strerror or exc})") from None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return f"{exc.msg} (line {exc.lineno})" if exc.lineno else str(exc.msg)
    return str(exc) or type(exc).__name__


def _ast_parse(data: str | bytes) -> ast.Module:
    """``ast.parse``; bytes are decoded by their coding cookie, as the importer does. CPython 3.11 can raise a
    spurious SystemError ("AST constructor recursion depth mismatch") while another thread compiles: retried."""
    for attempt in range(5):
        try:
            return ast.parse(data)
        except SystemError:
            if attempt == 4:
                raise


def _parse(data: str | bytes) -> ast.Module:
    """Parse a module file: anything Python could not compile fails closed."""
    try:
        return _ast_parse(data)
    except (SyntaxError, ValueError, UnicodeError, LookupError, MemoryError, RecursionError, SystemError) as exc:
        raise _Unreadable(f"could not be read as Python: {_reason(exc)}") from None


def _decode(data: str | bytes) -> str:
    if isinstance(data, str):
        return data
    try:
        return importlib.util.decode_source(data)
    except (SyntaxError, UnicodeError, LookupError) as exc:
        raise _Unreadable(f"could not be read as Python: {_reason(exc)}") from None


def _starts_statement(line: str) -> bool:
    return bool(line.strip()) and line[0] not in " \t#"


def _salvage(data: str | bytes) -> ast.Module:
    """The statements of a source that parse, for notebook cells run one after another: a cell with a syntax
    error never ran, so the code around it still counts. Splits at unindented lines around each error."""
    lines = _decode(data).splitlines(keepends=True)
    body: list[ast.stmt] = []
    attempts = 0

    def parse(start: int, stop: int) -> None:
        nonlocal attempts
        if start >= stop:
            return
        attempts += 1
        if attempts > _SALVAGE_ATTEMPTS:
            raise _Unreadable("could not be read as Python: too many syntax errors")
        try:
            tree = _ast_parse("".join(lines[start:stop]))
        except SyntaxError as exc:
            bad = min(max(start + (exc.lineno or 1) - 1, start), stop - 1)
            first = next((i for i in range(bad, start - 1, -1) if _starts_statement(lines[i])), start)
            after = next((i for i in range(bad + 1, stop) if _starts_statement(lines[i])), stop)
            parse(start, first)
            parse(after, stop)
            return
        except (ValueError, MemoryError, RecursionError, SystemError) as exc:
            raise _Unreadable(f"could not be read as Python: {_reason(exc)}") from None
        ast.increment_lineno(tree, start)
        body.extend(tree.body)

    parse(0, len(lines))
    return ast.Module(body=body, type_ignores=[])


# --- submission layouts ----------------------------------------------------------------------------------------

def _module_file(filename: str) -> tuple[str, int] | None:
    """(stem, rank) of a file the importer could load, rank ordering the loaders as Python tries them: a
    compiled extension, then source, then sourceless bytecode."""
    for suffix in sorted(importlib.machinery.EXTENSION_SUFFIXES, key=len, reverse=True):
        if filename.endswith(suffix):
            return filename[:-len(suffix)], 0
    if filename.endswith(".py"):
        return filename[:-3], 1
    if filename.endswith(".pyc"):
        return filename[:-4], 2
    return None


def _list_files(root: Path) -> tuple[list[str], list[str], bool]:
    """The relative paths of the module files under ``root`` (dot-folders and __pycache__ skipped), sorted; the
    folders that are symbolic links (not followed: they may lead anywhere); whether the listing stopped at
    MAX_FILES."""
    found: list[str] = []
    links: list[str] = []
    for folder, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__pycache__")
        relative = Path(folder).relative_to(root)
        links += [(relative / d).as_posix() for d in dirnames if os.path.islink(os.path.join(folder, d))]
        for filename in sorted(filenames):
            if _module_file(filename):
                found.append((relative / filename).as_posix())
                if len(found) >= MAX_FILES:
                    return sorted(found), sorted(links), True
    return sorted(found), sorted(links), False


def _entry_for(path: str, **extra) -> tuple[_Entry, int]:
    """The module a listed file provides, and its rank among the files that could provide that module."""
    *folders, filename = path.split("/")
    stem, rank = _module_file(filename)
    kind = "source" if rank == 1 else "compiled"
    if stem == "__init__":
        return _Entry(".".join(folders), path, kind, True, **extra), rank
    return _Entry(".".join([*folders, stem]), path, kind, **extra), 3 + rank


def _index(paths: Iterable[str], data: Mapping[str, str | bytes] | None = None,
           links: Iterable[str] = ()) -> dict[str, _Entry]:
    """Import name -> entry, as Python's importer resolves it: a package (folder with ``__init__``) first, then
    a compiled module, a ``.py``, a bare ``.pyc``, and last a plain folder (namespace package). A folder that is
    a symbolic link is an entry that cannot be checked."""
    best: dict[str, tuple[int, _Entry]] = {"": (9, _Entry("", "the submission folder", "namespace", True))}
    for link in links:
        best[link.replace("/", ".")] = (-1, _Entry(link.replace("/", "."), link + "/", "link", True))
    for path in paths:
        *folders, filename = path.split("/")
        for depth in range(1, len(folders) + 1):
            name = ".".join(folders[:depth])
            best.setdefault(name, (9, _Entry(name, "/".join(folders[:depth]) + "/", "namespace", True)))
        if filename.startswith("."):
            continue
        entry, rank = _entry_for(path, data=None if data is None else data[path])
        if entry.name not in best or rank < best[entry.name][0]:
            best[entry.name] = (rank, entry)
    return {name: entry for name, (_, entry) in best.items()}


def _directory_files(directory: str | Path) -> _Files:
    root = Path(directory)
    paths, links, truncated = _list_files(root) if root.is_dir() else ([], [], False)
    return _Files(_index(paths, links=links), root, tuple(paths), tuple(links), truncated)


def _source_files(sources: Mapping[str, str | bytes]) -> _Files:
    """In-memory modules ``{module name: text}``; a name may be dotted (``pkg.helpers``) or end in ``__init__``."""
    data = {name.removesuffix(".py").replace(".", "/") + ".py": text for name, text in sources.items()}
    return _Files(_index(sorted(data), data))


def _single_file(source: str | bytes) -> _Files:
    return _Files({"__main__": _Entry("__main__", "the source", data=source)})


def _join(base: str, name: str | None) -> str:
    return ".".join(part for part in (base, name) if part)


def _relative_base(module: _Module, level: int) -> str | None:
    """The package a relative import of ``level`` dots starts from, or None above the submission folder."""
    base = module.name if module.is_package else module.name.rpartition(".")[0]
    for _ in range(level - 1):
        if not base:
            return None
        base = base.rpartition(".")[0]
    return base


def _under(name: str, prefix: str) -> bool:
    """``name`` is ``prefix`` or an attribute of it; a prefix ending in "*" matches any name starting so."""
    if prefix.endswith("*"):
        return name.startswith(prefix[:-1])
    return name == prefix or name.startswith(prefix + ".")


def _display(dotted: str) -> str:
    return dotted.removeprefix("builtins.")


def _position(node: ast.AST) -> tuple[int, int]:
    return getattr(node, "lineno", 0), getattr(node, "col_offset", 0)


def _unique(items: Iterable) -> list:
    return list(dict.fromkeys(items))


def _int_constant(node: ast.AST | None) -> tuple[bool, int | None]:
    """(True, value) for a missing bound or an int literal (negative too), else (False, None)."""
    if node is None:
        return True, None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        ok, value = _int_constant(node.operand)
        return (ok and value is not None), (-value if ok and value is not None else None)
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return True, node.value
    return False, None


# --- the scan ------------------------------------------------------------------------------------------------------

class _Scan:
    """One scan of a submission: each file is parsed at most once; what names denote is remembered."""

    def __init__(self, files: _Files, strict: bool, salvage: bool = False):
        self.files = files
        self.strict = strict  # files: unknown names and missing modules fail closed
        self.salvage = salvage  # a notebook's source: skip statements that do not parse
        self.budget = MAX_TOTAL_BYTES
        self.steps = 0
        self._modules: dict[str, _Module] = {}
        self._refs_cache: dict[int, list] = {}
        self._walked: dict[int, list] = {}
        self._members: dict[int, dict[str, list[_Binding]]] = {}
        self._quiet: set[int] = set()  # nodes of an import call already resolved from its constant name
        self._resolving: set = set()
        self._patched_by: dict[str, list[tuple[str | None, str]]] = {}
        self._imported: dict[str, list[_Module]] = {}

    # modules

    def module(self, name: str) -> _Module | None:
        """The module an import of ``name`` loads; inside a folder that is a symbolic link, that folder."""
        entry = self.files.entries.get(name)
        while entry is None and "." in name:
            name = name.rpartition(".")[0]
            entry = self.files.entries.get(name)
            entry = entry if entry is not None and entry.kind == "link" else None
        return None if entry is None else self.load(entry)

    def load(self, entry: _Entry) -> _Module:
        if entry.path not in self._modules:
            self._modules[entry.path] = self._read(entry)
        return self._modules[entry.path]

    def _read(self, entry: _Entry) -> _Module:
        module = _Module(entry.name, entry.path, entry.is_package)
        if entry.kind == "namespace":
            return module
        try:
            if entry.kind == "compiled":
                raise _Unreadable("is compiled code, which cannot be checked", "compiled code")
            if entry.kind == "link":
                raise _Unreadable("is a symbolic link to a folder, which is not checked", "unreadable")
            data = self.files.read(entry)
            size = _size(data)
            if size > self.budget:
                raise _Unreadable(f"was not checked: one scan reads at most {MAX_TOTAL_BYTES:,} bytes of Python",
                                  "size")
            self.budget -= size
            module.tree = _salvage(data) if self.salvage else _parse(data)
        except _Unreadable as exc:
            module.reason, module.category = exc.reason, exc.category
            return module
        _index_module(module)
        return module

    def _internal(self, dotted: str) -> _Module | None:
        """The submission's module for an absolute import, when its first name is one of the submission's."""
        if dotted.partition(".")[0] not in self.files.entries:
            return None
        return self.module(dotted)

    def _scope(self, module: _Module, top: ast.stmt) -> _Scope:
        if id(top) not in module.scopes:
            module.scopes[id(top)] = _build_scope(module, top)
        return module.scopes[id(top)]

    def _step(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise _TooComplex

    def _guarded(self, key, compute: Callable[[], list]) -> list:
        """``compute()``, or nothing when ``key`` is already being resolved (a cycle)."""
        if key in self._resolving:
            return []
        self._resolving.add(key)
        try:
            return compute()
        finally:
            self._resolving.discard(key)

    # names

    def _binding_refs(self, module: _Module, binding: _Binding, name: str) -> list:
        if binding.kind == "def" or (binding.kind == "value" and binding.node is not None):
            return [_Node(binding.node, module, binding.top)]
        if binding.kind == "import":
            return self._import_refs(module, binding.node, binding.alias)
        if binding.kind == "star":
            return self._star_refs(module, binding.node, name)
        return []

    def _bound_refs(self, module: _Module, name: str) -> list:
        """What a top-level name of ``module`` may denote when its functions run (no builtins)."""
        return [r for b in _view(module, name, None) for r in self._binding_refs(module, b, name)]

    def _global_refs(self, module: _Module, name: str, before: int | None = None, local: bool = False) -> list:
        """What a global name may denote; a builtin when no statement surely binds it and no local shadows it."""
        view = _view(module, name, before)
        refs = [r for b in view for r in self._binding_refs(module, b, name)]
        if not local and not any(b.certain for b in view):
            if name == "__builtins__":
                refs.append(_Ext("builtins"))
            elif name in _BUILTIN_NAMES:
                refs.append(_Ext(f"builtins.{name}"))
        return refs

    def _name_refs(self, node: ast.Name, module: _Module, top: ast.stmt) -> list:
        """Locals and globals alike (shadowing is ignored: a name may mean either), globals as seen when the
        name is evaluated: at import for decorators, defaults and module-level code, else when functions run."""
        scope = self._scope(module, top)
        local = scope.values.get(node.id, ())
        refs = [r for b in local for r in self._binding_refs(module, b, node.id)]
        before = scope.index if id(node) in scope.import_time else None
        return refs + self._global_refs(module, node.id, before, bool(local))

    def _defined(self, module: _Module, scope: _Scope, name: str) -> bool:
        if name in scope.values or name in _BUILTIN_NAMES or name in _MODULE_DUNDERS:
            return True
        return self._defined_globally(module, name)

    def _defined_globally(self, module: _Module, name: str, seen: frozenset = frozenset()) -> bool:
        if module.bindings.get(name) or module.reason or module.path in seen:
            return True
        for star in module.stars:
            source = self._star_source(module, star.node)
            if not isinstance(source, _Module) or self._defined_globally(source, name, seen | {module.path}):
                return True
        return False

    # imports

    def _absolute_refs(self, dotted: str) -> list:
        refs: list = [_Ext(dotted)]
        internal = self._internal(dotted)
        if internal is not None:
            refs.append(_Mod(internal, dotted.partition(".")[0] not in sys.stdlib_module_names))
        return refs

    def _relative_refs(self, module: _Module, level: int, name: str | None) -> list:
        base = _relative_base(module, level)
        found = None if base is None else self.module(_join(base, name))
        if found is not None:
            return [_Mod(found)]
        if not self.strict:
            return []
        return [_Note(f"the import of {'.' * level}{name or ''}, which is not a Python file of the submission "
                      "(it cannot be checked)")]

    def _import_refs(self, module: _Module, stmt: ast.Import | ast.ImportFrom, alias: ast.alias) -> list:
        if isinstance(stmt, ast.Import):
            return self._absolute_refs(alias.name if alias.asname else alias.name.partition(".")[0])
        if stmt.level:
            sources = self._relative_refs(module, stmt.level, stmt.module)
        else:
            sources = [r for r in self._absolute_refs(stmt.module) if isinstance(r, _Mod)]
            sources.insert(0, _Ext(stmt.module))
        return [r for source in sources for r in self._attr(source, alias.name)]

    def _star_source(self, module: _Module, stmt: ast.ImportFrom):
        """The submission's module a star import reads, the library's dotted name, or a note."""
        if stmt.level:
            refs = self._relative_refs(module, stmt.level, stmt.module)
            return refs[0].module if refs and isinstance(refs[0], _Mod) else (refs[0] if refs else None)
        return self._internal(stmt.module) or stmt.module

    def _star_refs(self, module: _Module, stmt: ast.ImportFrom, name: str) -> list:
        if name.startswith("_"):
            return []
        source = self._star_source(module, stmt)
        refs: list = []
        if not stmt.level and name not in _BUILTIN_NAMES:
            refs.append(_Ext(f"{stmt.module}.{name}"))
        if isinstance(source, _Module):
            refs += self._guarded(("star", source.path, name), lambda: self._bound_refs(source, name))
        elif isinstance(source, _Note):
            refs.append(source)
        return refs

    @staticmethod
    def _import_names(stmt: ast.Import | ast.ImportFrom) -> list[str]:
        """The library names an import statement brings in (relative imports name the submission's files)."""
        if isinstance(stmt, ast.Import):
            return [alias.name for alias in stmt.names]
        if stmt.level:
            return []
        return [stmt.module if alias.name == "*" else f"{stmt.module}.{alias.name}" for alias in stmt.names]

    # attributes and calls

    def _attr(self, ref, name: str) -> list:
        if name == "__dict__":  # vars(m) and m.__dict__ index the object itself
            return [ref]
        if isinstance(ref, _Ext):
            return [_Ext(f"{ref.dotted}.{name}")]
        if isinstance(ref, _Mod):
            return self._module_attr(ref, name)
        if isinstance(ref, _Node):
            return self._node_attr(ref, name)
        return [ref] if isinstance(ref, _Note) else []

    def _module_attr(self, ref: _Mod, name: str) -> list:
        module = ref.module
        if module.reason:
            return [_Note(module.problem)]
        refs: list = []
        if module.is_package and (sub := self.module(_join(module.name, name))) is not None:
            refs.append(_Mod(sub, ref.exact))
        refs += self._guarded(("attr", module.path, name), lambda: self._bound_refs(module, name))
        if not refs:
            refs = self._bound_refs(module, "__getattr__")
        if not refs and ref.exact and self.strict and not (name.startswith("__") and name.endswith("__")):
            refs.append(_Note(f"{name}, which {module.path} never defines (a name made at run time cannot be "
                              "checked)"))
        return refs

    def _class_members(self, ref: _Node) -> dict[str, list[_Binding]]:
        cls = ref.node
        if id(cls) not in self._members:
            members: dict[str, list[_Binding]] = {}
            index = ref.module.top_index.get(id(ref.top), 0)
            for statement in cls.body:
                for node, _ in _statements(statement):
                    for name, kind, value, alias in _binds(node):
                        members.setdefault(name, []).append(_Binding(kind, value, ref.top, index, False, alias))
            self._members[id(cls)] = members
        return self._members[id(cls)]

    def _node_attr(self, ref: _Node, name: str) -> list:
        node = ref.node
        if isinstance(node, _FUNCTIONS):
            return [_Mod(ref.module)] if name == "__globals__" else []
        if isinstance(node, ast.ClassDef):
            refs = [r for b in self._class_members(ref).get(name, ()) for r in self._binding_refs(ref.module, b, name)]
            for base in node.bases:
                refs += self._guarded(("base", id(base), name), lambda base=base: [
                    a for r in self._refs(base, ref.module, ref.top) for a in self._attr(r, name)])
            return refs
        if isinstance(node, ast.Lambda):
            return []
        return [a for r in self._denote(ref) for a in self._attr(r, name)]

    def _denote(self, ref: _Node) -> list:
        """What the value expression of ``ref`` may evaluate to."""
        return self._guarded(("value", id(ref.node)), lambda: self._refs(ref.node, ref.module, ref.top))

    def _call(self, ref) -> list:
        """What calling ``ref`` may return: a helper's return values, a lambda's body, a class's instance."""
        if isinstance(ref, _Node):
            node = ref.node
            if isinstance(node, _FUNCTIONS):
                return self._guarded(("call", id(node)), lambda: [
                    r for value in _returned(node) for r in self._refs(value, ref.module, ref.top)])
            if isinstance(node, ast.Lambda):
                return self._guarded(("call", id(node)), lambda: self._refs(node.body, ref.module, ref.top))
            if isinstance(node, ast.ClassDef):
                return [ref]
            return [c for r in self._denote(ref) for c in self._call(r)]
        return [ref] if isinstance(ref, _Note) else []

    def _computed(self, ref) -> list:
        """An attribute or item of ``ref`` chosen at run time."""
        if isinstance(ref, _Ext):
            return [_Computed(ref.dotted)]
        if isinstance(ref, _Mod):
            return [_All(ref.module)]
        if isinstance(ref, _Node) and isinstance(ref.node, ast.ClassDef):
            return [ref]
        return []

    # expressions

    def _refs(self, node: ast.AST, module: _Module, top: ast.stmt) -> list:
        """What the expression ``node`` may denote (remembered unless computed inside a cycle guard)."""
        cacheable = not self._resolving
        if cacheable and id(node) in self._refs_cache:
            return self._refs_cache[id(node)]
        self._step()
        refs = _unique(self._compute_refs(node, module, top))
        if cacheable:
            self._refs_cache[id(node)] = refs
        return refs

    def _compute_refs(self, node: ast.AST, module: _Module, top: ast.stmt) -> list:
        refs = lambda child: self._refs(child, module, top)  # noqa: E731
        if isinstance(node, ast.Name):
            return self._name_refs(node, module, top) if isinstance(node.ctx, ast.Load) else []
        if isinstance(node, ast.Attribute):
            return [a for r in refs(node.value) for a in self._attr(r, node.attr)]
        if isinstance(node, ast.Subscript):
            return self._subscript_refs(node, module, top)
        if isinstance(node, ast.Call):
            special = self._special_call(node, module, top)
            return special if special is not None else [c for r in refs(node.func) for c in self._call(r)]
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            return [r for element in node.elts for r in refs(element)]
        if isinstance(node, ast.Dict):
            return [r for value in node.values for r in refs(value)]
        if isinstance(node, (ast.Starred, ast.NamedExpr, ast.Await)):
            return refs(node.value)
        if isinstance(node, ast.IfExp):
            return refs(node.body) + refs(node.orelse)
        if isinstance(node, ast.BoolOp):
            return [r for value in node.values for r in refs(value)]
        if isinstance(node, ast.Lambda):
            return [_Node(node, module, top)]
        return []

    def _subscript_refs(self, node: ast.Subscript, module: _Module, top: ast.stmt) -> list:
        """``sys.modules["jax.nn"]``, ``vars(m)["relu"]``, ``globals()["_r"]``; an item of a container may be any
        of its elements."""
        base = self._refs(node.value, module, top)
        key = node.slice
        if _Ext("sys.modules") in base:
            return self._module_by_name(key, module, top)
        name = self._fold(key, module, top)
        if name is not None:
            return base + [a for r in base for a in self._attr(r, name)]
        if isinstance(key, (ast.Constant, ast.Slice)):
            return base
        return base + [c for r in base for c in self._computed(r)]

    def _module_by_name(self, key: ast.AST, module: _Module, top: ast.stmt) -> list:
        if isinstance(key, ast.Name) and key.id == "__name__":
            return [_Mod(module)]
        name = self._fold(key, module, top)
        if name is None:
            return [_Note("sys.modules[...] with a computed name (a module chosen at run time cannot be checked)")]
        return self._absolute_refs(name)

    def _special_call(self, node: ast.Call, module: _Module, top: ast.stmt) -> list | None:
        """getattr-likes, importers, globals()/vars() and operator.attrgetter; None for an ordinary call."""
        funcs = {r.dotted for r in self._refs(node.func, module, top) if isinstance(r, _Ext)}
        args = node.args
        if funcs & _GETATTR and len(args) >= 2:
            return self._getattr_refs(args[0], args[1], module, top)
        if isinstance(node.func, ast.Attribute) and node.func.attr in ("__getattribute__", "__getattr__") and args:
            obj, key = (node.func.value, args[0]) if len(args) == 1 else (args[0], args[1])
            return self._getattr_refs(obj, key, module, top)
        if funcs & _IMPORTERS and args:
            return self._import_call_refs(node, funcs, module, top)
        if funcs & _NAMESPACES:
            return self._refs(args[0], module, top) if args else [_Mod(module)]
        if isinstance(node.func, ast.Call) and len(args) == 1:
            return self._attrgetter_refs(node, module, top)
        return None

    def _getattr_refs(self, obj: ast.AST, key: ast.AST, module: _Module, top: ast.stmt) -> list:
        objects = self._refs(obj, module, top)
        name = self._fold(key, module, top)
        if name is None:
            return [c for r in objects for c in self._computed(r)]
        return [a for r in objects for a in self._attr(r, name)]

    def _attrgetter_refs(self, node: ast.Call, module: _Module, top: ast.stmt) -> list | None:
        """``operator.attrgetter("nn.relu")(jax)``."""
        maker = node.func
        if "operator.attrgetter" not in {r.dotted for r in self._refs(maker.func, module, top)
                                         if isinstance(r, _Ext)} or not maker.args:
            return None
        refs = self._refs(node.args[0], module, top)
        path = self._fold(maker.args[0], module, top)
        if path is None:
            return [c for r in refs for c in self._computed(r)]
        for part in path.split("."):
            refs = _unique(a for r in refs for a in self._attr(r, part))
        return refs

    def _import_call_refs(self, node: ast.Call, funcs: set, module: _Module, top: ast.stmt) -> list | None:
        """``importlib.import_module("jax.nn")``, ``__import__("jax.nn", fromlist=[...])``. With a computed name
        this is no special call: the importer itself then shows as code chosen at run time."""
        name = self._fold(node.args[0], module, top)
        if name is None:
            return None
        level = len(name) - len(name.lstrip("."))
        if "builtins.__import__" in funcs:
            level = level or self._import_level(node)
        if level:
            refs = self._relative_refs(module, level, name.lstrip(".") or None)
        elif "builtins.__import__" in funcs and not _has_fromlist(node):
            refs = self._absolute_refs(name.partition(".")[0])
        else:
            refs = self._absolute_refs(name)
        self._quiet.update(id(n) for n in ast.walk(node.func))
        return refs

    @staticmethod
    def _import_level(node: ast.Call) -> int:
        value = node.args[4] if len(node.args) > 4 else next(
            (k.value for k in node.keywords if k.arg == "level"), None)
        ok, level = _int_constant(value)
        return level if ok and level else 0

    # constant strings

    def _fold(self, node: ast.AST, module: _Module, top: ast.stmt, depth: int = 0) -> str | None:
        """The string ``node`` always evaluates to when constants alone decide it, else None."""
        if depth > _FOLD_DEPTH:
            return None
        self._step()
        fold = lambda child: self._fold(child, module, top, depth + 1)  # noqa: E731
        if isinstance(node, ast.Constant):
            value = node.value if isinstance(node.value, str) else None
        elif isinstance(node, ast.JoinedStr):
            value = _fold_fstring(node, fold)
        elif isinstance(node, ast.BinOp):
            value = _fold_binop(node, fold)
        elif isinstance(node, ast.Call):
            value = _fold_call(node, fold)
        elif isinstance(node, ast.Subscript):
            value = _fold_subscript(node, fold)
        elif isinstance(node, ast.Name):
            value = self._fold_name(node, module, top, depth)
        else:
            value = None
        return value if isinstance(value, str) and len(value) <= _FOLD_LENGTH else None

    def _fold_name(self, node: ast.Name, module: _Module, top: ast.stmt, depth: int) -> str | None:
        """A local or global string constant: every binding that may give the name its value folds alike."""
        scope = self._scope(module, top)
        bindings = scope.values.get(node.id) or _view(
            module, node.id, scope.index if id(node) in scope.import_time else None)
        values = set()
        for binding in bindings:
            if binding.kind == "value" and binding.node is not None:
                values.add(self._fold(binding.node, module, binding.top, depth + 1))
            elif binding.kind == "import":
                nodes = [r for r in self._import_refs(module, binding.node, binding.alias) if isinstance(r, _Node)]
                values.update(self._fold(r.node, r.module, r.top, depth + 1) for r in nodes)
                if not nodes:
                    return None
            else:
                return None
        return values.pop() if len(values) == 1 else None

    # walking reached code

    def _walk(self, ref: _Node) -> list:
        """Everything the code of ``ref`` names, in source order (remembered per node)."""
        if id(ref.node) not in self._walked:
            self._walked[id(ref.node)] = self._walk_node(ref.node, ref.module, ref.top)
        return self._walked[id(ref.node)]

    def _walk_node(self, root: ast.AST, module: _Module, top: ast.stmt) -> list:
        scope = self._scope(module, top)
        found: list = []
        for node in sorted(ast.walk(root), key=_position):
            if id(node) in self._quiet:
                continue
            if isinstance(node, _REFERENCES):
                found += self._refs(node, module, top)
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found += [_Imported(name) for name in self._import_names(node)]
            if (self.strict and isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
                    and id(node) not in scope.annotations and not self._defined(module, scope, node.id)):
                found.append(_Note(f"{node.id}, which {module.path} never defines (a name made at run time "
                                   "cannot be checked)"))
        return found

    def _expand(self, ref) -> list:
        if isinstance(ref, _Node):
            return self._walk(ref)
        if isinstance(ref, _All):
            return [r for name in ref.module.bindings for r in self._bound_refs(ref.module, name)]
        return []

    @staticmethod
    def _label(ref, forbidden: tuple[str, ...]) -> str | None:
        """The label a reached reference earns for a function with these forbidden names, if any."""
        if isinstance(ref, (_Ext, _Imported)):
            for name in forbidden:
                if _under(ref.dotted, name):
                    return name if "." in name else ref.dotted  # a whole package: say what was used in it
            if isinstance(ref, _Ext) and any(_under(ref.dotted, code) for code in RUNTIME_CODE):
                return f"{_display(ref.dotted)} (code built at run time cannot be checked)"
        elif isinstance(ref, _Computed):
            if any(_under(name, ref.dotted) or _under(ref.dotted, name) for name in forbidden):
                return f"{ref.dotted}.<computed name> (an attribute chosen at run time cannot be checked)"
        elif isinstance(ref, _Note):
            return ref.text
        elif isinstance(ref, _Mod) and ref.module.reason:
            return ref.module.problem
        return None

    def find(self, module_name: str, function: str, forbidden: Iterable[str]) -> list[str]:
        """The labels of ``function`` in module ``module_name``: the forbidden names it uses, what cannot be
        checked, and the library changes (of a forbidden name's package) made by the code around it."""
        forbidden = tuple(forbidden)
        module = self.module(module_name) if forbidden else None
        if module is None:
            return []
        if module.reason:
            return [module.problem]
        labels, reached = self._reach(module, function, forbidden)
        roots = {name.partition(".")[0] for name in forbidden}
        for around in _unique([*self._import_time(module), *reached]):
            labels += [label for root, label in self._patches(around) if root is None or root in roots]
        return _most_specific(_unique(labels))

    def _reach(self, module: _Module, function: str, forbidden: tuple[str, ...]) -> tuple[list[str], list[_Module]]:
        """The labels of what ``function`` reaches, and the modules whose code it reaches."""
        labels: list[str] = []
        modules: list[_Module] = []
        self.steps = 0
        try:
            queue = deque(self._global_refs(module, function))
            seen = set()
            while queue:
                ref = queue.popleft()
                if ref in seen:
                    continue
                seen.add(ref)
                if (label := self._label(ref, forbidden)) is not None:
                    labels.append(label)
                if isinstance(ref, (_Node, _Mod, _All)):
                    modules.append(ref.module)
                queue.extend(self._expand(ref))
        except (RecursionError, _TooComplex):
            labels.append(f"{function} (its code is too deeply nested or too complex to check)")
        return labels, modules

    def _import_time(self, module: _Module) -> list[_Module]:
        """The modules that run before a function of ``module`` can: the submission's package ``__init__``,
        ``module`` itself and the submission's modules it imports at top level, transitively."""
        if module.path not in self._imported:
            order, todo = [], [m for m in (self.module(""), module) if m is not None]
            while todo:
                current = todo.pop(0)
                if current in order:
                    continue
                order.append(current)
                todo += self._top_level_imports(current)
            self._imported[module.path] = order
        return self._imported[module.path]

    def _top_level_imports(self, module: _Module) -> list[_Module]:
        """The submission's modules that ``module``'s top-level import statements run (parent packages too)."""
        found: list[_Module] = []
        for top in module.tree.body if module.tree is not None else ():
            for node, _ in _statements(top):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names if self._internal(alias.name)]
                elif isinstance(node, ast.ImportFrom):
                    base = _relative_base(module, node.level) if node.level else ""
                    target = None if base is None else _join(base, node.module)
                    names = [target] if target and (node.level or self._internal(target)) else []
                    names += [_join(target, alias.name) for alias in node.names if target is not None]
                else:
                    continue
                found += [m for name in names for m in self._with_parents(name)]
        return found

    def _with_parents(self, name: str) -> list[_Module]:
        """The modules importing ``name`` runs: its packages, outermost first, then itself (those that exist)."""
        parts = name.split(".")
        prefixes = [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
        return [self.load(self.files.entries[prefix]) for prefix in prefixes if prefix in self.files.entries]

    # library patches

    def _patches(self, module: _Module) -> list[tuple[str | None, str]]:
        """(library, label) for each library attribute ``module`` assigns, deletes or ``setattr``s anywhere
        (``jnp.maximum = ...``); library None when the module is too complex to look through."""
        if module.path not in self._patched_by:
            found: list[tuple[str | None, str]] = []
            self.steps = 0
            try:
                names = [name for top in (module.tree.body if module.tree is not None else ())
                         for node in ast.walk(top) for name in self._patched(node, module, top)]
                found = [(name.partition(".")[0], f"changes {name} (a library changed at run time cannot be "
                          "checked)") for name in names]
            except (RecursionError, _TooComplex):
                found = [(None, f"{module.path} (too complex to check for changes to libraries)")]
            self._patched_by[module.path] = _unique(found)
        return self._patched_by[module.path]

    def _patched(self, node: ast.AST, module: _Module, top: ast.stmt) -> list[str]:
        targets: list[ast.AST] = []
        if isinstance(node, (ast.Assign, ast.Delete)):
            targets = list(node.targets)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        elif isinstance(node, ast.Call) and len(node.args) >= 2 and any(
                isinstance(r, _Ext) and r.dotted in _SETATTR for r in self._refs(node.func, module, top)):
            return self._patched_names(node.args[0], node.args[1], module, top)
        names = []
        for target in targets:
            for element in _flatten(target):
                if isinstance(element, ast.Attribute):
                    names += self._patched_names(element.value, ast.Constant(element.attr), module, top)
                elif isinstance(element, ast.Subscript):
                    names += self._patched_items(element, module, top)
        return names

    def _patched_names(self, obj: ast.AST, key: ast.AST, module: _Module, top: ast.stmt) -> list[str]:
        name = self._fold(key, module, top) or "<computed name>"
        return [f"{dotted}.{name}" for dotted in self._library_objects(obj, module, top)]

    def _patched_items(self, target: ast.Subscript, module: _Module, top: ast.stmt) -> list[str]:
        if "sys.modules" in self._library_objects(target.value, module, top):
            return [self._fold(target.slice, module, top) or "sys.modules.<computed name>"]
        return self._patched_names(target.value, target.slice, module, top)

    def _library_objects(self, node: ast.AST, module: _Module, top: ast.stmt) -> list[str]:
        """The library names an expression may denote, looking through the submission's own variables."""
        found, todo, seen = [], list(self._refs(node, module, top)), set()
        while todo:
            ref = todo.pop()
            if ref in seen:
                continue
            seen.add(ref)
            if isinstance(ref, _Ext):
                found.append(ref.dotted)
            elif isinstance(ref, _Node) and not isinstance(ref.node, (*_FUNCTIONS, ast.ClassDef, ast.Lambda)):
                todo.extend(self._denote(ref))
        return found


def _most_specific(labels: list[str]) -> list[str]:
    """Drop a label that another one extends (``grader.engine.trusted`` beside ``grader.engine.trusted.relu``)."""
    return [label for label in labels if not any(other.startswith(label + ".") for other in labels)]


def _flatten(target: ast.AST) -> Iterator[ast.AST]:
    if isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            yield from _flatten(element)
    elif isinstance(target, ast.Starred):
        yield from _flatten(target.value)
    else:
        yield target


def _returned(function: ast.AST) -> Iterator[ast.AST]:
    """The values a function's own ``return`` statements give (not those of functions nested in it)."""
    stack = list(function.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Return) and node.value is not None:
            yield node.value
        if not isinstance(node, (*_FUNCTIONS, ast.Lambda, ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(node))


def _has_fromlist(node: ast.Call) -> bool:
    value = node.args[3] if len(node.args) > 3 else next((k.value for k in node.keywords if k.arg == "fromlist"),
                                                          None)
    empty = value is None or (isinstance(value, ast.Constant) and not value.value) or (
        isinstance(value, (ast.List, ast.Tuple)) and not value.elts)
    return not empty


# --- folding constant strings ----------------------------------------------------------------------------------

def _fold_fstring(node: ast.JoinedStr, fold) -> str | None:
    parts = []
    for value in node.values:
        if isinstance(value, ast.Constant):
            parts.append(str(value.value))
            continue
        inner = fold(value.value)
        spec = "" if value.format_spec is None else fold(value.format_spec)
        if inner is None or spec is None or _WIDE_FORMAT.search(spec):
            return None
        inner = {ord("r"): repr, ord("a"): ascii}.get(value.conversion, str)(inner)
        try:
            parts.append(format(inner, spec))
        except (ValueError, TypeError):
            return None
    return "".join(parts)


def _fold_binop(node: ast.BinOp, fold) -> str | None:
    left = fold(node.left)
    if left is None:
        return None
    if isinstance(node.op, ast.Add):
        right = fold(node.right)
        return None if right is None else left + right
    if isinstance(node.op, ast.Mult):
        ok, times = _int_constant(node.right)
        return left * times if ok and times is not None and len(left) * max(times, 0) <= _FOLD_LENGTH else None
    if isinstance(node.op, ast.Mod) and not _WIDE_FORMAT.search(left):
        items = node.right.elts if isinstance(node.right, ast.Tuple) else [node.right]
        values = [fold(item) for item in items]
        if None not in values:
            try:
                return left % tuple(values)
            except (TypeError, ValueError):
                return None
    return None


def _fold_items(node: ast.AST, fold) -> list[str] | None:
    """The strings a constant iterable yields: a list or tuple of strings, a string's characters, reversed()."""
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [fold(element) for element in node.elts]
        return None if None in items else items
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "reversed" and node.args:
        items = _fold_items(node.args[0], fold)
        return None if items is None else items[::-1]
    text = fold(node)
    return None if text is None else list(text)


def _fold_call(node: ast.Call, fold) -> str | None:
    func, args = node.func, node.args
    if node.keywords:
        return None
    if isinstance(func, ast.Attribute):
        base = fold(func.value)
        if base is None:
            return None
        if func.attr == "join" and len(args) == 1:
            items = _fold_items(args[0], fold)
            return None if items is None else base.join(items)
        if func.attr in _STR_METHODS and not args:
            return getattr(base, func.attr)()
        if func.attr == "format" and not _WIDE_FORMAT.search(base):
            values = [fold(arg) for arg in args]
            try:
                return None if None in values else base.format(*values)
            except (IndexError, KeyError, ValueError):
                return None
    if isinstance(func, ast.Name) and func.id == "str" and len(args) == 1:
        return fold(args[0])
    if isinstance(func, ast.Name) and func.id == "chr" and len(args) == 1:
        ok, code = _int_constant(args[0])
        return chr(code) if ok and code is not None and 0 <= code < 0x110000 else None
    return None


def _fold_subscript(node: ast.Subscript, fold) -> str | None:
    base = fold(node.value)
    key = node.slice
    if base is None:
        return None
    if isinstance(key, ast.Slice):
        bounds = [_int_constant(part) for part in (key.lower, key.upper, key.step)]
        if all(ok for ok, _ in bounds) and bounds[2][1] != 0:
            return base[slice(*(value for _, value in bounds))]
        return None
    ok, index = _int_constant(key)
    return base[index] if ok and index is not None and -len(base) <= index < len(base) else None


# --- public API ----------------------------------------------------------------------------------------------------

def find(source: str | bytes, function: str, forbidden: Iterable[str]) -> list[str]:
    """What ``function`` in ``source`` (one module, or a notebook's cells) uses of ``forbidden``, in order of
    appearance, and what in it cannot be checked (phrases with a space, e.g. "exec (code built at run time
    cannot be checked)"). Statements that do not parse are skipped (a notebook cell with a syntax error never
    ran); a source that cannot be decoded fails closed."""
    return _Scan(_single_file(source), strict=False, salvage=True).find("__main__", function, forbidden)


def message(function: str, names: Iterable[str]) -> str:
    """The feedback for a function whose :func:`find` labels are ``names``."""
    names = _unique(names)
    dotted = [n for n in names if all(part.isidentifier() for part in n.split("."))]
    kit = [n for n in dotted if _under(n, KIT_PACKAGE)]
    library = [n for n in dotted if n not in kit]
    unchecked = [n for n in names if n not in dotted]
    sentences = []
    if library:
        sentences.append(f"{function} calls {', '.join(library)}, which solves the exercise outright: write it "
                         "yourself with jax.numpy operations")
    if kit:
        sentences.append(f"{function} uses {', '.join(kit)}: importing the grading kit is not allowed")
    if unchecked:
        sentences.append(f"{function} cannot be checked for forbidden shortcuts: {'; '.join(unchecked)}")
    return "; ".join(sentences) + " (none of its checks score while it does)"


def _messages(scan: _Scan) -> dict[str, str]:
    out = {}
    for function, module in rubric.STUDENT_FUNCTIONS.items():
        names = scan.find(module, function, rubric.FORBIDDEN_SHORTCUTS.get(function, ()))
        if names:
            out[function] = message(function, names)
    return out


def scan_sources(sources: Mapping[str, str | bytes]) -> dict[str, str]:
    """``{function: message}`` for each student function that uses a shortcut, given the submission's modules as
    ``{module name: source}`` (student modules and any helper modules, e.g. ``"helpers"`` or ``"pkg.util"``)."""
    return _messages(_Scan(_source_files(sources), strict=True))


def scan_directory(directory: str | Path) -> dict[str, str]:
    """Scan a submission folder: every module file in it (subfolders too) may be followed; nothing is imported."""
    return _messages(_Scan(_directory_files(directory), strict=True))


# --- review notes -------------------------------------------------------------------------------------------------

def review_flags(directory: str | Path) -> list[str]:
    """Notes for an instructor's review, never a penalty: where the submission's code reaches for the grading
    kit, file descriptors, /proc or /sys, native code, signals, the network, subprocesses, frames, the module
    table, builtins, code built at run time, tracing hooks, threads or exit hooks. Each note reads
    "<file>:<line>: <what> (<category>)"; at most MAX_FLAGS, then "... and N more"."""
    files = _directory_files(directory)
    scan = _Scan(files, strict=False)
    flags = [(path, line, what, category) for path in files.paths for line, what, category in _file_flags(scan, path)]
    flags += [(link, 1, "symbolic link to a folder: not followed", "unreadable") for link in files.links]
    if files.truncated:
        flags.append((".", 1, f"more than {MAX_FILES:,} module files: the rest were not reviewed", "size"))
    flags = [f for f in flags if not _given_kit_use(*f)]
    notes = [f"{path}:{line}: {what} ({category})" for path, line, what, category in sorted(set(flags))]
    if len(notes) > MAX_FLAGS:
        notes = notes[:MAX_FLAGS] + [f"... and {len(notes) - MAX_FLAGS} more"]
    return notes


# The kit's public face for the exercises' given code: loading the data, saving figures, and the students' own
# test module. Reaching these is what the released exercises do, so it is not worth an instructor's review.
GIVEN_KIT_MODULES = (f"{KIT_PACKAGE}.data.datasets", f"{KIT_PACKAGE}.reports.figures", f"{KIT_PACKAGE}.pytest_plugin")


def _given_kit_use(path: str, line: int, what: str, category: str) -> bool:
    return category == "grading kit" and any(f" {m}." in f" {what}" or what.endswith(f" {m}")
                                             for m in GIVEN_KIT_MODULES)


def _file_flags(scan: _Scan, path: str) -> Iterator[tuple[int, str, str]]:
    entry, _ = _entry_for(path)
    if entry.kind == "compiled":
        yield 1, "compiled module: Python may import it, but its code cannot be read", "compiled code"
        return
    module = scan.load(entry)
    if module.reason:
        yield 1, module.reason, module.category
        return
    scan.steps = 0
    try:
        yield from _module_flags(scan, module)
    except (RecursionError, _TooComplex):
        yield 1, "too deeply nested or too complex to review", "size"


def _module_flags(scan: _Scan, module: _Module) -> Iterator[tuple[int, str, str]]:
    covered: set[int] = set()
    for top in module.tree.body:
        for node in ast.walk(top):
            if id(node) not in covered:
                yield from _node_flags(scan, module, top, node, covered)


def _node_flags(scan: _Scan, module: _Module, top: ast.stmt, node: ast.AST,
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
    if isinstance(node, _REFERENCES):
        for ref in scan._refs(node, module, top):
            if not isinstance(ref, _Ext):
                continue
            implicit = isinstance(node, ast.Name) and ref.dotted == f"builtins.{node.id}"
            if category := _category(ref.dotted, implicit):
                yield line, f"uses {_display(ref.dotted) if implicit else ref.dotted}", category
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        for name in scan._import_names(node):
            if category := _category(name, False):
                yield line, f"imports {name}", category
    if isinstance(node, ast.Call) and node.args and _is_int(node.args[0]) and any(
            isinstance(r, _Ext) and r.dotted in _OPENERS for r in scan._refs(node.func, module, top)):
        yield line, f"open({node.args[0].value})", "file descriptors"
    if isinstance(node, (ast.Constant, ast.JoinedStr, ast.BinOp)):
        text = node.value.decode("latin-1") if isinstance(node, ast.Constant) and isinstance(
            node.value, bytes) else scan._fold(node, module, top)
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
        if any(_under(dotted, name) for name in names):
            return category
    return None

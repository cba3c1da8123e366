"""What submitted code may contain: a static policy, checked in the trusted parent before any of it runs.

The rule
    A submission may change the released exercise files only in the ways these exercises need: imports of the
    numerical libraries, function definitions, constants and plain helpers. Reflection (the module table, the
    garbage collector, frames, dunder attributes, attribute look-ups by a computed name) and code that runs at
    import are not allowed. Honest code for the six functions never needs either; a file that breaks the rule
    fails closed: its caller takes the functions of that module away, naming the file, the line and the construct
    (:meth:`Violation.describe`).

The baseline: the released exercise files
    A top-level statement of a submitted module that is the same statement (same syntax tree, positions and
    comments aside) as one of the released file of that module is exempt: the given code (training loops, nnx
    classes, ``if __name__ == "__main__":`` blocks, the kit's data loader) passes unchanged. Statements are
    compared by the sha256 of :func:`canonical_dump`; the digests of the released files ship in
    ``released_statements.json``, written by ``python -m grader.authoring.build``. An import nested in a released
    function (``from .linear_regression import sgd`` in ``train_scratch``) stays exempt inside that function when
    the student edits the rest of it. Every other statement is checked in full, function bodies included (they
    run later, during the probes); a file that is not one of the exercise modules (a helper, ``__init__.py``) has
    no baseline.

What checked code may not do (anywhere, function bodies included)
    * import anything but ``jax``, ``numpy``, ``optax``, ``flax`` (their public modules), ``math``, ``functools``,
      ``itertools``, ``typing``, ``collections``, ``numbers``, ``dataclasses``, ``random`` (the book shuffles with
      it), ``sys`` and ``__future__``; import
      the kit; import from the submission itself (relative imports, or a name that is one of its files); use
      ``from m import *``;
    * read, write or delete an attribute whose name starts with ``_`` (``__globals__``, ``__class__``,
      ``sys._getframe``, ``jax._src``; only ``__name__``, ``__qualname__``, ``__doc__``, ``super().__init__`` and
      ``self._x`` in an instance's own methods are allowed), a frame or traceback attribute (``f_back``, ``tb_frame``,
      ``gi_frame``, ``co_code``, ...) or one of the names in :data:`BLOCKED_ATTRIBUTES`: the libraries' namespaces
      hold the standard modules they import (``dataclasses.sys``, ``typing.types``, a jax module's ``inspect``
      or ``op``), so such names are blocked on every object; so are metaclasses (names ending in ``Meta``), which
      build classes at run time;
    * use ``sys`` other than ``sys.argv``, ``stdout``, ``stderr``, ``exit``, ``float_info``, ``maxsize`` and
      ``version_info`` (``from sys import ...`` too), or use ``sys`` itself as a value;
    * use ``vars``, ``globals``, ``locals``, ``dir``, ``setattr``, ``delattr``, ``exec``, ``eval``, ``compile``,
      ``__import__`` or ``breakpoint`` at all; ``getattr``/``hasattr`` other than called with a constant name
      that the attribute rules allow; ``type`` other than as ``type(x)`` (its three-argument form builds a class);
      a dunder name other than ``__name__``, ``__doc__``, ``__file__``, ``__all__``, ``__version__`` and
      ``__debug__``; ``allow_pickle`` (unpickling runs code); ``functools.wraps`` with attribute names;
      ``case C(attr=x)`` with an attribute name the rules refuse;
    * annotate with anything but a plain type (names, attributes, subscripts, tuples, lists, ``|``): Python
      evaluates annotations, and so do libraries (an nnx.Module subclass goes through ``typing.get_type_hints``
      in flax's namespace, where a string annotation is code);
    * assign to or delete an attribute of anything but ``self`` in an instance's own methods (patching ``jnp.exp``,
      ``optax.sgd``); declare ``global`` a name the module imports, or rebind one outside a function. An instance's
      own methods are the undecorated ``__init__`` and ``__call__`` whose first parameter, ``self``, is never
      rebound: Python calls them on the instance, and naming them otherwise is refused, while any other method can
      be handed a module as ``self`` (``Model.reset(jnp)``);
    * define a function or method with a dunder name, other than the ``__init__`` and ``__call__`` methods that
      nnx modules need (``__del__``, ``__eq__``, ``__array__``, a module's ``__getattr__``: Python calls them
      implicitly, behind the grader's back);
    * decorate with anything but a library's dotted name (``jax.jit``, ``functools.partial(jax.jit,
      static_argnums=(0,))`` with constant arguments), ``staticmethod``, ``classmethod``, ``property`` (and its
      ``.setter``), or ``f.defjvp``/``.defvjp``/``.defjvps`` of a function of the file; decorate a class with
      anything but ``dataclasses.dataclass`` or ``typing``'s; give a class a base that is not a library's, one of
      the file's classes, ``object`` or a built-in exception, or keywords (``metaclass=``).

What may run at import (outside function bodies)
    imports, function and class definitions, docstrings, ``pass``, the ``if __name__ == "__main__":`` block (its
    body is checked like a function body: the grader never runs it) and assignments of constant expressions:
    literals, names, the libraries' dotted names (``softmax_ref = jax.nn.softmax``), containers, arithmetic and
    f-strings of those, lambdas, and calls of ``numpy``, ``jax.numpy`` and ``math`` (and of the methods of what
    they return) with constant arguments that name none of the file's functions, classes or lambdas
    (``jnp.array([1., 2.]).reshape(-1, 1)``, ``np.float32(1e4)``; ``np.fromfunction(f, ...)`` would call ``f``).
    The default values of the functions and lambdas defined at import are constant expressions too (those of a
    function defined inside another one are ordinary expressions of it). A class defined at import holds only
    docstrings, constant assignments and annotations, methods and nested classes of the same kind. Anything else
    (a call, a loop, ``try``, ``with``, another ``if``) is code that runs at import.

What it does not cover
    It reads names, not values: it cannot see what a library does with what it is given, and a library function
    that evaluates strings, unpickles data or looks attributes up by names held in data is an escape it closes
    only for the ones it names (``get_type_hints``, ``singledispatch``, ``register_dataclass``, ``allow_pickle``,
    ``attrgetter``, ...; tests/test_code_policy.py walks what the libraries hold under the names it lets through).
    String literals are not inspected (but a string is no annotation). Files, processes and the network (``open``
    stays allowed) are the sandbox's business, and forbidden library shortcuts (``jax.nn.softmax`` inside
    ``softmax``) are the shortcut scan's (:mod:`grader.engine.shortcuts`). A file that cannot be decoded or parsed
    is no violation (importing it reports the error), but one larger than ``MAX_SOURCE_BYTES`` is.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import functools
import hashlib
import importlib.util
import json
from pathlib import Path, PurePosixPath
from typing import Iterable, Mapping

from grader.engine.shortcuts.bindings import flatten
from grader.engine.shortcuts.parsing import MAX_SOURCE_BYTES, ast_parse
from grader.engine.shortcuts.rules import KIT_PACKAGE

BASELINE_FILE = Path(__file__).with_name("released_statements.json")

# Why a construct is refused: the second half of every message.
REFLECTION = "reflection is not allowed in submitted code"
RUN_TIME_CODE = "code built or loaded at run time is not allowed in submitted code"
AT_IMPORT = "code that runs at import is not allowed in submitted code"
FOREIGN_IMPORT = "an import outside the numerical libraries"
KIT_IMPORT = "importing the grading kit is not allowed"
OWN_IMPORT = "submitted files may not import one another"
PATCHING = "changing other objects is not allowed in submitted code"
IMPLICIT = "Python calls it implicitly, behind the grader's back"
NOT_LIBRARY = "only the libraries' decorators and base classes are allowed"
ANNOTATION = "annotations may only name types: libraries evaluate them"
TOO_LARGE = f"too large to check (the cap is {MAX_SOURCE_BYTES:,} bytes)"
TOO_DEEP = "honest code is never nested this deeply"

# Importable roots, and whether their submodules may be imported too.
LIBRARIES = {"jax": True, "numpy": True, "optax": True, "flax": True, "collections": True, "math": False,
             "functools": False, "itertools": False, "typing": False, "numbers": False, "dataclasses": False,
             "sys": False, "random": False, "__future__": False}
KIT_ROOTS = frozenset({KIT_PACKAGE, "solutions", "exercises", "tests"})
SYS_ALLOWED = frozenset({"argv", "stdout", "stderr", "exit", "float_info", "maxsize", "version_info"})

FRAME_ATTRIBUTES = frozenset({
    "f_back", "f_builtins", "f_code", "f_globals", "f_lasti", "f_lineno", "f_locals", "f_trace", "tb_frame",
    "tb_lasti", "tb_lineno", "tb_next", "gi_code", "gi_frame", "gi_yieldfrom", "cr_await", "cr_code", "cr_frame",
    "cr_origin", "ag_await", "ag_code", "ag_frame", "co_code", "co_consts", "co_names", "co_varnames"})
BLOCKED_ATTRIBUTES = frozenset({
    # standard modules (and jax's aliases of them: op, tb_lib, tpe) that the libraries' namespaces re-export
    "sys", "os", "gc", "inspect", "types", "builtins", "importlib", "pkgutil", "threading", "subprocess", "signal",
    "atexit", "traceback", "tb_lib", "operator", "op", "string", "weakref", "pickle", "marshal", "runpy", "yaml",
    "cloudpickle", "typing_extensions", "tpe", "bltns", "posix", "logging", "mock", "importlib_resources",
    # native memory
    "ctypes", "ctypeslib", "stride_tricks", "as_strided",
    # look-ups by a name held in data, evaluated strings, imports, unpickling, classes and code built at run time
    "attrgetter", "methodcaller", "get_type_hints", "ForwardRef", "singledispatch", "singledispatchmethod",
    "update_wrapper", "register_dataclass", "register_dataclass_node", "make_dataclass", "new_class", "mro",
    "ErrorCategory", "EnumType", "currentframe", "FunctionType", "LambdaType", "CodeType", "find_spec",
    "import_module", "load_module", "exec_module", "distributions", "entry_points", "measure", "breakpoint",
    "serialize_executable", "deserialize_and_load", "colocated_python", "f2py", "distutils", "extbuild",
    "build_and_import_extension"})
READABLE_DUNDERS = frozenset({"__name__", "__qualname__", "__doc__"})  # strings

FORBIDDEN_NAMES = {name: REFLECTION for name in ("vars", "globals", "locals", "dir", "setattr", "delattr",
                                                 "breakpoint", "__import__")}
FORBIDDEN_NAMES.update({name: RUN_TIME_CODE for name in ("exec", "eval", "compile")})
LOADABLE_DUNDER_NAMES = frozenset({"__name__", "__doc__", "__file__", "__all__", "__version__", "__debug__"})
BINDABLE_DUNDER_NAMES = frozenset({"__all__", "__version__"})
METHOD_DUNDERS = frozenset({"__init__", "__call__"})
PLAIN_DECORATORS = frozenset({"staticmethod", "classmethod", "property"})
OWN_DECORATOR_ATTRIBUTES = frozenset({"defjvp", "defvjp", "defjvps", "setter", "getter", "deleter"})
CONSTRUCTORS = ("numpy.", "jax.numpy.", "math.")  # calls allowed in constants: array and number constructors
TYPE_USERS = frozenset({"isinstance", "issubclass", "print", "str", "repr", "format", "id", "hash"})
PLAIN_BASES = frozenset({"object"} | {name for name, value in vars(builtins).items()
                                      if isinstance(value, type) and issubclass(value, BaseException)})

TYPE_NODES = (ast.Name, ast.Attribute, ast.Subscript, ast.Tuple, ast.List, ast.BinOp, ast.BitOr, ast.Constant,
              ast.expr_context)  # what an annotation may be made of (BinOp: only ``|``)

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_DEFINITIONS = (*_FUNCTIONS, ast.ClassDef)


@dataclasses.dataclass(frozen=True)
class Violation:
    """A construct of submitted code that the policy refuses."""
    file: str       # relative to the submission folder, posix: "mlp.py", "helpers/util.py"
    line: int
    construct: str  # what was found: "sys.modules", "the dunder attribute __globals__", "import gc"
    reason: str = REFLECTION

    def describe(self) -> str:
        return f"{self.file}, line {self.line}: {self.construct} — {self.reason}"


def refusal(rel: str, violations: list[Violation]) -> str:
    """What the functions of a refused file are told: its first violations, and what submitted code may hold."""
    shown = "; ".join(v.describe() for v in violations[:3]) + ("; …" if len(violations) > 3 else "")
    return (f"{rel} was not run: {shown}. Submitted code holds function definitions, constants, plain helpers and "
            "imports of the numerical libraries (README, Security); an instructor who has read it can grade it as "
            "it is with --accept-code")


def refusing_module(message: str) -> bytes:
    """What the graded process gets in place of a refused file: a module whose import raises ``message``, so
    its functions, and whatever imports it, fail with the reason."""
    return f"raise ImportError({message!r})\n".encode()


# --- the baseline ----------------------------------------------------------------------------------------------

def canonical_dump(node: ast.AST) -> str:
    """``ast.dump(node, include_attributes=False)`` without its empty fields: the same text on every Python the
    kit supports (3.12 adds ``type_params=[]`` to definitions, 3.13's ``ast.dump`` leaves empty fields out)."""
    if isinstance(node, ast.AST):
        fields = ", ".join(f"{name}={canonical_dump(value)}" for name, value in ast.iter_fields(node)
                           if value is not None and not (isinstance(value, list) and not value))
        return f"{type(node).__name__}({fields})"
    if isinstance(node, list):
        return "[" + ", ".join(canonical_dump(item) for item in node) + "]"
    return repr(node)


def _digest(node: ast.AST, owner: str | None = None) -> str:
    text = canonical_dump(node) if owner is None else f"{owner}\n{canonical_dump(node)}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _owner(top: ast.stmt) -> str:
    return top.name if isinstance(top, _DEFINITIONS) else ""


def is_released_module(rel_path: str) -> bool:
    """A file of exercises/ that holds exercise code: a top-level module, not a test, conftest or __init__."""
    path = PurePosixPath(rel_path)
    return (len(path.parts) == 1 and path.suffix == ".py" and path.stem not in ("__init__", "conftest")
            and not path.stem.startswith("test_"))


def baseline(files: Mapping[str, str]) -> dict[str, dict[str, list[str]]]:
    """The digests of the released exercise files ``{relative path: text}``: per module, its top-level statements
    and (keyed by the top-level definition holding them) the imports nested in it."""
    out = {}
    for rel, text in sorted(files.items()):
        if not is_released_module(rel):
            continue
        tree = ast_parse(text)
        nested = {_digest(node, _owner(top)) for top in tree.body for node in ast.walk(top)
                  if isinstance(node, (ast.Import, ast.ImportFrom)) and node is not top}
        out[PurePosixPath(rel).stem] = {"statements": sorted({_digest(top) for top in tree.body}),
                                        "imports": sorted(nested)}
    return out


def baseline_json(files: Mapping[str, str]) -> str:
    """The text of ``released_statements.json`` for the released exercise files ``files``."""
    return json.dumps(baseline(files), indent=1, sort_keys=True) + "\n"


@functools.cache
def _released() -> dict[str, dict[str, list[str]]]:
    return json.loads(BASELINE_FILE.read_text(encoding="utf-8"))


# --- checking --------------------------------------------------------------------------------------------------

def check_file(rel_path: str, source: bytes | str, own_modules: Iterable[str] = ()) -> list[Violation]:
    """The violations of one submitted file, in line order. ``own_modules``: the submission's other top-level
    module and folder names, which it may not import (the released exercise modules always count)."""
    rel = PurePosixPath(rel_path).as_posix()
    if isinstance(source, str):
        source = source.encode("utf-8", "surrogatepass")
    if len(source) > MAX_SOURCE_BYTES:
        return [Violation(rel, 1, f"a file of {len(source):,} bytes", TOO_LARGE)]
    try:
        tree = ast_parse(importlib.util.decode_source(source))
    except (SyntaxError, ValueError, UnicodeError, LookupError, MemoryError, RecursionError, SystemError):
        return []  # not a policy matter: importing the file reports the error
    released = _released()
    module = PurePosixPath(rel).stem if is_released_module(rel) else None
    own = {*released, *own_modules, *_top_names([rel])}
    checker = _Checker(rel, tree, released.get(module, {}), own)
    try:
        checker.run()
    except RecursionError:
        return [Violation(rel, 1, "code nested too deeply to check", TOO_DEEP)]
    return sorted(checker.found.values(), key=lambda v: v.line)


def check_files(files: Mapping[str, bytes | str]) -> dict[str, list[Violation]]:
    """``{relative path: violations}`` for the files of a submission ``{relative path: source}`` that have any."""
    own = _top_names(files)
    out = {}
    for rel, source in files.items():
        if found := check_file(rel, source, own):
            out[PurePosixPath(rel).as_posix()] = found
    return out


def _top_names(paths: Iterable[str]) -> set[str]:
    """The names an absolute import would take from a submission's files: ``mlp.py`` gives "mlp", ``pkg/x.py``
    gives "pkg"."""
    names = set()
    for rel in paths:
        first = PurePosixPath(rel).parts[0] if PurePosixPath(rel).parts else ""
        name = first[:-3] if first.endswith(".py") else first
        if name.isidentifier() and name != "__init__":
            names.add(name)
    return names


def _attribute_problem(name: str) -> str | None:
    """What reading the attribute ``name`` of any object is, when it is not allowed."""
    if name in READABLE_DUNDERS:
        return None
    if name.startswith("__") and name.endswith("__"):
        return f"the dunder attribute {name}"
    if name.startswith("_"):
        return f"the private attribute {name}"
    if name in FRAME_ATTRIBUTES:
        return f"the frame attribute {name}"
    if name in BLOCKED_ATTRIBUTES or name.endswith("Meta"):
        return f"the attribute {name}"
    return None


def _is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def _rebinds(function: ast.AST, name: str) -> bool:
    """Whether ``name`` is bound anywhere inside ``function`` (its nested functions included), other than as the
    function's own first parameter."""
    own = {id(function), *(id(a) for a in ast.walk(function.args) if isinstance(a, ast.arg))}
    for node in ast.walk(function):
        if id(node) in own:
            continue
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load) or isinstance(node, ast.arg):
            bound = [node.id if isinstance(node, ast.Name) else node.arg]
        elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)):
            bound = [node.name]
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound = [a.asname or a.name.partition(".")[0] for a in node.names]
        elif isinstance(node, (ast.Global, ast.Nonlocal, *_DEFINITIONS)):
            bound = getattr(node, "names", None) or [node.name]
        else:
            continue
        if name in bound:
            return True
    return False


def _is_main_guard(test: ast.expr) -> bool:
    """``__name__ == "__main__"`` (either way round)."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = [test.left, test.comparators[0]]
    return any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides) and any(
        isinstance(s, ast.Constant) and s.value == "__main__" for s in sides)


def _short(node: ast.AST, limit: int = 60) -> str:
    text = ast.unparse(node)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _kind(stmt: ast.stmt) -> str:
    """A statement's kind, for "<kind> at module level"."""
    if isinstance(stmt, ast.Expr):
        return "a call" if isinstance(stmt.value, ast.Call) else "an expression"
    if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        if all(isinstance(t, ast.Name) for target in targets for t in flatten(target)):
            return f"an assignment of a computed value ({_short(stmt.value)})"
        return "an assignment to an attribute or item"
    kinds = {ast.For: "a for loop", ast.AsyncFor: "a for loop", ast.While: "a while loop", ast.If: "an if statement",
             ast.With: "a with statement", ast.AsyncWith: "a with statement", ast.Try: "a try statement",
             ast.Raise: "a raise statement", ast.Assert: "an assert statement", ast.Delete: "a del statement",
             ast.Global: "a global statement", ast.Nonlocal: "a nonlocal statement", ast.Match: "a match statement",
             ast.Import: "an import", ast.ImportFrom: "an import"}
    return kinds.get(type(stmt), f"a {type(stmt).__name__.lower()} statement")


class _Checker(ast.NodeVisitor):
    """Checks the statements of one file that the baseline does not exempt."""

    def __init__(self, path: str, tree: ast.Module, released: Mapping[str, list[str]], own: set[str]):
        self.path, self.tree, self.own = path, tree, own
        self.exempt = set(released.get("statements", ()))
        self.exempt_imports = set(released.get("imports", ()))
        self.found: dict[tuple[int, str], Violation] = {}
        self.parents: dict[ast.AST, ast.AST] = {}
        self.defined: set[str] = set()   # the names of the file's functions and classes
        self.classes: set[str] = set()
        imports: list[ast.Import | ast.ImportFrom] = []
        declared: set[str] = set()       # names some function declares global
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                self.parents[child] = node
            if isinstance(node, _DEFINITIONS):
                self.defined.add(node.name)
                if isinstance(node, ast.ClassDef):
                    self.classes.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                imports.append(node)
            elif isinstance(node, ast.Global):
                declared.update(node.names)
        self.imported = {name for node in imports if self.parents[node] is tree for name, _ in self._bindings(node)}
        self.libraries: dict[str, str] = {}  # name -> the library object it is bound to, e.g. jnp -> jax.numpy
        self.sys_names: set[str] = set()
        foreign: set[str] = set()        # names bound by the other imports
        for node in imports:
            allowed = not self._import_problems(node)
            for name, dotted in self._bindings(node):
                if not allowed:
                    foreign.add(name)
                    continue
                self.libraries[name] = dotted
                if dotted == "sys":
                    self.sys_names.add(name)
        for name in self._rebound() | declared:
            self.libraries.pop(name, None)
        self.code = self._code_names(foreign)
        self.runtime = 0       # > 0: inside a function body or the __main__ block, code that runs later
        self.self_name = None  # in an instance's own method: the name of the instance, which it may change
        self.owner = ""        # the top-level definition being checked

    def run(self) -> None:
        for top in self.tree.body:
            if self.exempt and _digest(top) in self.exempt:
                continue
            self.owner = _owner(top)
            self._module_statement(top)

    def flag(self, node: ast.AST, construct: str, reason: str = REFLECTION) -> None:
        line = getattr(node, "lineno", 1)
        self.found.setdefault((line, construct), Violation(self.path, line, construct, reason))

    # names bound by imports

    @staticmethod
    def _bindings(node: ast.Import | ast.ImportFrom) -> list[tuple[str, str]]:
        """(name bound, dotted name it denotes) for each alias of an import."""
        if isinstance(node, ast.Import):
            return [(a.asname, a.name) if a.asname else (a.name.partition(".")[0], a.name.partition(".")[0])
                    for a in node.names]
        base = "." * node.level + (node.module or "")
        return [(a.asname or a.name, f"{base}.{a.name}") for a in node.names if a.name != "*"]

    def _rebound(self) -> set[str]:
        """Names bound outside function bodies by anything but an allowed import: with those declared global, they
        cannot be trusted to denote a library (``jax = Fake`` would make ``@jax.jit`` run the student's code)."""
        names: set[str] = set()
        stack: list[ast.AST] = list(self.tree.body)
        while stack:
            node = stack.pop()
            if isinstance(node, _DEFINITIONS):
                names.add(node.name)
            if isinstance(node, (*_FUNCTIONS, ast.Lambda)):  # only what the definition evaluates
                evaluated = [*getattr(node, "decorator_list", ()), *node.args.defaults, *node.args.kw_defaults]
                stack += [n for n in evaluated if n is not None]
                continue
            if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                names.add(node.id)
            elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
                names.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)) and self._import_problems(node):
                names.update(name for name, _ in self._bindings(node))
            stack.extend(ast.iter_child_nodes(node))
        return names

    def _dotted(self, node: ast.AST) -> str | None:
        """The library name an expression spells (``jnp.float32`` -> "jax.numpy.float32"), or None."""
        if isinstance(node, ast.Name):
            return self.libraries.get(node.id)
        if isinstance(node, ast.Attribute):
            base = self._dotted(node.value)
            return None if base is None else f"{base}.{node.attr}"
        return None

    # imports

    def _module_problem(self, dotted: str) -> tuple[str, str] | None:
        """(construct, reason) when importing the absolute module ``dotted`` is not allowed."""
        parts = dotted.split(".")
        if parts[0] in self.own:
            return f"import {dotted}", OWN_IMPORT
        if parts[0] in KIT_ROOTS:
            return f"import {dotted}", KIT_IMPORT
        if parts[0] not in LIBRARIES or (len(parts) > 1 and not LIBRARIES[parts[0]]):
            return f"import {dotted}", FOREIGN_IMPORT
        if any(_attribute_problem(part) for part in parts[1:]):
            return dotted, REFLECTION
        return None

    def _import_problems(self, node: ast.Import | ast.ImportFrom) -> list[tuple[str, str]]:
        if isinstance(node, ast.Import):
            return [p for a in node.names if (p := self._module_problem(a.name))]
        if node.level:
            return [(f"import from {'.' * node.level}{node.module or ''}", OWN_IMPORT)]
        if problem := self._module_problem(node.module):
            return [problem]
        problems = []
        for alias in node.names:
            if alias.name == "*":
                problems.append((f"from {node.module} import *", "a star import cannot be checked"))
            elif node.module == "sys" and alias.name not in SYS_ALLOWED:
                problems.append((f"sys.{alias.name}", REFLECTION))
            elif _attribute_problem(alias.name):
                problems.append((f"{node.module}.{alias.name}", REFLECTION))
        return problems

    def _check_import(self, node: ast.Import | ast.ImportFrom) -> None:
        nested = self.parents[node] is not self.tree
        if nested and self.exempt_imports and _digest(node, self.owner) in self.exempt_imports:
            return  # an import of the released code, in the function that has it
        for construct, reason in self._import_problems(node):
            self.flag(node, construct, reason)
        for name, _ in self._bindings(node):
            self._check_binding(node, name)

    visit_Import = visit_ImportFrom = _check_import

    # module level: what runs at import

    def _module_statement(self, stmt: ast.stmt) -> None:
        if isinstance(stmt, ast.If) and _is_main_guard(stmt.test) and not self.runtime:
            self.visit(stmt.test)
            self._runtime_block(stmt.body)
            for other in stmt.orelse:  # an else branch runs at import
                self._module_statement(other)
            return
        if not self._runs_nothing(stmt):
            self.flag(stmt, f"{_kind(stmt)} at module level", AT_IMPORT)
        for name in self._names_bound(stmt):
            if name in self.imported and not isinstance(stmt, (ast.Import, ast.ImportFrom)):
                self.flag(stmt, f"rebinding the imported name {name}", PATCHING)
        self.visit(stmt)

    def _runtime_block(self, body: list[ast.stmt]) -> None:
        self.runtime += 1
        try:
            for stmt in body:
                self.visit(stmt)
        finally:
            self.runtime -= 1

    @staticmethod
    def _names_bound(stmt: ast.stmt) -> list[str]:
        if isinstance(stmt, _DEFINITIONS):
            return [stmt.name]
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [getattr(stmt, "target", None)]
        return [t.id for target in targets if target is not None for t in flatten(target) if isinstance(t, ast.Name)]

    def _runs_nothing(self, stmt: ast.stmt) -> bool:
        """A module-level (or class-body) statement that only defines or binds constants."""
        if isinstance(stmt, (ast.Import, ast.ImportFrom, *_DEFINITIONS, ast.Pass)):
            return True
        if isinstance(stmt, ast.Expr):
            return isinstance(stmt.value, ast.Constant)
        if isinstance(stmt, ast.Assign):
            return all(isinstance(t, ast.Name) for target in stmt.targets for t in flatten(target)) \
                and self._constant(stmt.value)
        if isinstance(stmt, ast.AnnAssign):
            return isinstance(stmt.target, ast.Name) and (stmt.value is None or self._constant(stmt.value))
        if isinstance(stmt, ast.AugAssign):
            return isinstance(stmt.target, ast.Name) and self._constant(stmt.value)
        return False

    def _constant(self, node: ast.AST | None, names: str = "any") -> bool:
        """A constant expression: evaluating it runs no code of the submission. ``names`` says which bare names
        it may hold: "any" (a value bound at import: naming a function does not call it), "data" (the arguments
        of a library call, which may call what it is given: no functions, classes or lambdas of the
        submission) or "library" (a decorator's arguments: only the libraries' names)."""
        if node is None or isinstance(node, ast.Constant):
            return True
        if isinstance(node, ast.Name):
            return node.id in self.libraries or names == "any" or (names == "data" and node.id not in self.code)
        if isinstance(node, ast.Attribute):
            return self._dotted(node) is not None
        if isinstance(node, ast.Call):  # a constructor, or a method of what one returns (jnp.array(...).reshape)
            func, dotted = node.func, self._dotted(node.func)
            inner = "library" if names == "library" else "data"
            made = dotted.startswith(CONSTRUCTORS) if dotted else (isinstance(func, ast.Attribute) and isinstance(
                func.value, ast.Call) and self._constant(func.value, names))
            return made and all(self._constant(part, inner) for part in [*node.args, *(k.value for k in node.keywords)])
        if isinstance(node, ast.Lambda):
            return names == "any" and all(self._constant(d) for d in [*node.args.defaults, *node.args.kw_defaults])
        if isinstance(node, (ast.Tuple, ast.List, ast.Set, ast.Dict, ast.Starred, ast.UnaryOp, ast.BinOp, ast.BoolOp,
                             ast.Compare, ast.IfExp, ast.Subscript, ast.Slice, ast.JoinedStr, ast.FormattedValue)):
            return all(self._constant(child, names) for child in ast.iter_child_nodes(node)
                       if not isinstance(child, (ast.expr_context, ast.operator, ast.unaryop, ast.boolop, ast.cmpop)))
        return False

    def _code_names(self, foreign: set[str]) -> set[str]:
        """Names that may denote code of the submission at import: its functions and classes, what imports other
        than the libraries' bring (``foreign``), and the names assigned (at module level or in a class body) from
        those or from lambdas."""
        names = self.defined | foreign
        assignments, stack = [], list(self.tree.body)
        while stack:
            stmt = stack.pop()
            if isinstance(stmt, ast.ClassDef) or isinstance(stmt, ast.If) and _is_main_guard(stmt.test):
                stack += stmt.body + getattr(stmt, "orelse", [])
            elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and stmt.value is not None:
                assignments.append((set(self._names_bound(stmt)), stmt.value))
        readers: dict[str, list[set[str]]] = {}  # name -> the names assigned from values that mention it
        todo = list(names)
        for bound, value in assignments:
            for node in ast.walk(value):
                if isinstance(node, ast.Lambda):
                    todo += bound
                elif isinstance(node, ast.Name):
                    readers.setdefault(node.id, []).append(bound)
        while todo:
            name = todo.pop()
            names.add(name)
            todo += [b for bound in readers.pop(name, ()) for b in bound if b not in names]
        return names

    # definitions

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        parent = self.parents.get(node)
        in_class = isinstance(parent, ast.ClassDef)
        if _is_dunder(node.name) and not (in_class and node.name in METHOD_DUNDERS):
            where = ("the method" if in_class else "the module-level function" if isinstance(parent, ast.Module)
                     else "a function named")
            self.flag(node, f"{where} {node.name}", IMPLICIT)
        for decorator in node.decorator_list:
            if not self._library_decorator(decorator):
                self.flag(decorator, f"a decorator that is not a library's ({_short(decorator)})", NOT_LIBRARY)
        if not self.runtime:
            self._check_signature(node.args)
        self._check_annotation(node.returns)
        for child in [*node.decorator_list, node.args, *([node.returns] if node.returns else [])]:
            self.visit(child)
        positional = [a.arg for a in [*node.args.posonlyargs, *node.args.args]]
        every = {a.arg for a in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs,
                                 node.args.vararg, node.args.kwarg] if a is not None}
        outer = self.self_name
        if in_class:  # an instance's own method (see the module's docstring)
            own = (node.name in METHOD_DUNDERS and not node.decorator_list and positional[:1] == ["self"]
                   and not _rebinds(node, "self"))
            self.self_name = "self" if own else None
        elif outer in every:  # a nested function whose own parameter hides the method's self
            self.self_name = None
        try:
            self._runtime_block(node.body)
        finally:
            self.self_name = outer

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        if not self.runtime:
            self._check_signature(node.args)
        self.visit(node.args)
        self.runtime += 1
        try:
            self.visit(node.body)
        finally:
            self.runtime -= 1

    def _check_signature(self, args: ast.arguments) -> None:
        """The defaults of a definition that runs at import are evaluated there: constants only."""
        for default in [*args.defaults, *args.kw_defaults]:
            if default is not None and not self._constant(default):
                self.flag(default, f"a default value that is not a constant ({_short(default)})", AT_IMPORT)

    def _check_annotation(self, annotation: ast.expr | None) -> None:
        """An annotation names a type: Python evaluates it when the definition runs, and libraries evaluate it again
        (nnx.Module's subclasses go through ``typing.get_type_hints``, in the library's namespace, where a string
        is code); so no calls, no strings, nothing but names, attributes, subscripts, tuples, lists and ``|``."""
        if annotation is None:
            return
        for node in ast.walk(annotation):
            if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
                self.flag(node, f"a string annotation ({_short(node)})", ANNOTATION)
            elif not isinstance(node, TYPE_NODES) or isinstance(node, ast.BinOp) and not isinstance(node.op, ast.BitOr):
                self.flag(annotation, f"an annotation that is not a type ({_short(annotation)})", ANNOTATION)
                return

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._check_annotation(node.annotation)
        self.generic_visit(node)

    def visit_arg(self, node: ast.arg) -> None:
        self._check_annotation(node.annotation)
        self.generic_visit(node)

    def visit_MatchClass(self, node: ast.MatchClass) -> None:
        """``case C(name=x)`` reads the attribute ``name`` of the subject."""
        for attribute in node.kwd_attrs:
            if what := _attribute_problem(attribute):
                self.flag(node, what)
        self.generic_visit(node)

    def _library_decorator(self, node: ast.expr) -> bool:
        if self._dotted(node) is not None:
            return True
        if isinstance(node, ast.Name):
            return node.id in PLAIN_DECORATORS
        if isinstance(node, ast.Attribute):
            return (isinstance(node.value, ast.Name) and node.value.id in self.defined
                    and node.attr in OWN_DECORATOR_ATTRIBUTES)
        if isinstance(node, ast.Call):
            return self._dotted(node.func) is not None and all(
                self._constant(part, "library") for part in [*node.args, *(k.value for k in node.keywords)])
        return False

    def _class_decorator(self, node: ast.expr) -> bool:
        call = node if isinstance(node, ast.Call) else None
        dotted = self._dotted(call.func if call else node) or ""
        if not (dotted == "dataclasses.dataclass" or dotted.startswith("typing.")):
            return False
        return call is None or all(self._constant(part, "library")
                                   for part in [*call.args, *(k.value for k in call.keywords)])

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        if _is_dunder(node.name):
            self.flag(node, f"a class named {node.name}", IMPLICIT)
        for decorator in node.decorator_list:
            if not self._class_decorator(decorator):
                self.flag(decorator, f"a class decorator that is not dataclasses' or typing's ({_short(decorator)})",
                          NOT_LIBRARY)
        for base in node.bases:
            if not (self._dotted(base) is not None
                    or isinstance(base, ast.Name) and (base.id in self.classes or base.id in PLAIN_BASES)):
                self.flag(base, f"a base class that is not a library's ({_short(base)})", NOT_LIBRARY)
        for keyword in node.keywords:
            self.flag(keyword, f"the class keyword {keyword.arg or '**'}=", NOT_LIBRARY)
        if not self.runtime:
            for stmt in node.body:
                if not (self._runs_nothing(stmt) and not isinstance(stmt, (ast.Import, ast.ImportFrom))):
                    self.flag(stmt, f"{_kind(stmt)} in the body of class {node.name}", AT_IMPORT)
        outer, self.self_name = self.self_name, None
        try:
            for child in [*node.decorator_list, *node.bases, *node.keywords, *node.body]:
                self.visit(child)
        finally:
            self.self_name = outer

    # statements and expressions

    def visit_Global(self, node: ast.Global) -> None:
        for name in node.names:
            if name in self.imported:
                self.flag(node, f"global {name}, an imported name", PATCHING)
            self._check_binding(node, name)

    visit_Nonlocal = visit_Global

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            self._check_binding(node, node.name)
        self.generic_visit(node)

    def visit_MatchAs(self, node: ast.MatchAs) -> None:
        if node.name:
            self._check_binding(node, node.name)
        self.generic_visit(node)

    visit_MatchStar = visit_MatchAs

    def _check_binding(self, node: ast.AST, name: str) -> None:
        if _is_dunder(name) and name not in BINDABLE_DUNDER_NAMES:
            self.flag(node, f"the name {name}")

    def visit_Name(self, node: ast.Name) -> None:
        name = node.id
        if not isinstance(node.ctx, ast.Load):
            self._check_binding(node, name)
        elif name in FORBIDDEN_NAMES:
            self.flag(node, name, FORBIDDEN_NAMES[name])
        elif _is_dunder(name) and name not in LOADABLE_DUNDER_NAMES:
            self.flag(node, f"the name {name}")
        elif name in ("getattr", "hasattr"):
            self._check_getattr(node)
        elif name == "type":
            self._check_type(node)
        elif name in self.sys_names:
            parent = self.parents.get(node)
            if not (isinstance(parent, ast.Attribute) and parent.value is node):
                self.flag(node, f"{name} (the sys module) as a value")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        value, attr = node.value, node.attr
        if isinstance(value, ast.Name) and value.id in self.sys_names:
            if attr not in SYS_ALLOWED:
                self.flag(node, f"sys.{attr}")
        elif not self._own_private(node) and not self._super_init(node) and (what := _attribute_problem(attr)):
            self.flag(node, what)
        if not isinstance(node.ctx, ast.Load) and not self._own_attribute(node):
            verb = "assignment to" if isinstance(node.ctx, ast.Store) else "deletion of"
            self.flag(node, f"{verb} {_short(node)}", PATCHING)
        self.generic_visit(node)

    def _own_attribute(self, node: ast.Attribute) -> bool:
        """``self.x`` (or ``self.x.y``) in an instance's own method: its own state."""
        root = node.value
        while isinstance(root, ast.Attribute):
            root = root.value
        return self.self_name is not None and isinstance(root, ast.Name) and root.id == self.self_name

    def _own_private(self, node: ast.Attribute) -> bool:
        """``self._x`` in an instance's own method (not a dunder)."""
        return (self.self_name is not None and isinstance(node.value, ast.Name) and node.value.id == self.self_name
                and node.attr.startswith("_") and not node.attr.startswith("__"))

    @staticmethod
    def _super_init(node: ast.Attribute) -> bool:
        """``super().__init__``, as a subclass's ``__init__`` calls it."""
        call = node.value
        return (node.attr == "__init__" and isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
                and call.func.id == "super")

    def _check_getattr(self, node: ast.Name) -> None:
        call = self.parents.get(node)
        if not (isinstance(call, ast.Call) and call.func is node):
            self.flag(node, f"{node.id} as a value")
            return
        args = call.args
        key = args[1] if len(args) > 1 else None
        if call.keywords or any(isinstance(a, ast.Starred) for a in args) or not (
                isinstance(key, ast.Constant) and isinstance(key.value, str)):
            self.flag(node, f"{node.id} with a computed name")
        elif what := _attribute_problem(key.value):
            self.flag(node, what)

    def _check_type(self, node: ast.Name) -> None:
        """``type(x)`` read, compared, printed or called with one argument; never ``type`` itself, its
        three-argument form or ``type(x)`` kept as a value (``type(int)`` is ``type``)."""
        call = self.parents.get(node)
        if not (isinstance(call, ast.Call) and call.func is node):
            self.flag(node, "type as a value")
            return
        if len(call.args) != 1 or call.keywords or isinstance(call.args[0], ast.Starred):
            self.flag(node, "type() with more than one argument", RUN_TIME_CODE)
            return
        use = self.parents.get(call)
        if isinstance(use, (ast.Attribute, ast.Compare, ast.FormattedValue)):
            return
        if isinstance(use, ast.Call) and use.func is call:
            if len(use.args) > 1 or use.keywords or any(isinstance(a, ast.Starred) for a in use.args):
                self.flag(node, "type(...) called with more than one argument", RUN_TIME_CODE)
            return
        if isinstance(use, ast.Call) and isinstance(use.func, ast.Name) and use.func.id in TYPE_USERS:
            return
        self.flag(node, "type(...) as a value")

    def visit_Call(self, node: ast.Call) -> None:
        for keyword in node.keywords:
            if keyword.arg == "allow_pickle" and not (isinstance(keyword.value, ast.Constant)
                                                      and keyword.value.value is False):
                self.flag(keyword.value, "allow_pickle", RUN_TIME_CODE)
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if (name == "load" and len(node.args) > 2) or (name == "read_array" and len(node.args) > 1):
            self.flag(node, f"{name} with allow_pickle given by position", RUN_TIME_CODE)
        if name == "wraps" and len(node.args) + len(node.keywords) > 1:
            self.flag(node, "wraps with attribute names", REFLECTION)
        self.generic_visit(node)

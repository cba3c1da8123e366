"""Name and alias resolution: what an expression of the submission may denote (:mod:`.denotes`), following
import aliases, module-level values, locals, defaults, class attributes, what helpers return, star imports and
the submission's own modules, each resolved as Python's importer would. Names are read as they are when the code
runs: at import for module-level code, decorators and defaults, else when functions run. A cycle is cut; past
MAX_STEPS resolutions a function counts as too complex (:class:`TooComplex`). Lookups spelled out with a computed
name are :mod:`.lookups`' job.
"""

from __future__ import annotations

import ast
import builtins
import sys
from typing import Callable, Iterator

from grader.engine.shortcuts import lookups
from grader.engine.shortcuts.bindings import (
    FUNCTIONS,
    Binding,
    Module,
    Scope,
    binds,
    build_scope,
    index_module,
    statements,
    view,
)
from grader.engine.shortcuts.denotes import All, Computed, Ext, Mod, Node, Note, unique
from grader.engine.shortcuts.folding import FOLD_DEPTH, fold_expression
from grader.engine.shortcuts.layout import Entry, Files, join_name, relative_base
from grader.engine.shortcuts.parsing import MAX_SOURCE_BYTES, Unreadable, parse_module, salvage, source_size

MAX_TOTAL_BYTES = 2 * MAX_SOURCE_BYTES  # all the Python one scan parses (each file is parsed once per scan)
MAX_STEPS = 200_000  # name resolutions for one function before it counts as too complex to check

BUILTIN_NAMES = frozenset(dir(builtins))
_MODULE_DUNDERS = frozenset({"__name__", "__file__", "__doc__", "__spec__", "__loader__", "__package__", "__path__",
                             "__cached__", "__annotations__", "__builtins__", "__class__", "__module__",
                             "__qualname__", "__dict__"})
REFERENCES = (ast.Name, ast.Attribute, ast.Call, ast.Subscript)  # the expressions that name something


class TooComplex(Exception):
    """Resolving names took more than MAX_STEPS steps."""


class Resolver:
    """What the expressions of one scan's modules may denote: each file is parsed at most once, and what a node
    denotes is remembered."""

    def __init__(self, files: Files, strict: bool, salvage: bool = False):
        self.files = files
        self.strict = strict  # files: unknown names and missing modules fail closed
        self.salvage = salvage  # a notebook's source: skip statements that do not parse
        self.budget = MAX_TOTAL_BYTES
        self.steps = 0
        self._modules: dict[str, Module] = {}
        self._refs_cache: dict[int, list] = {}
        self._members: dict[int, dict[str, list[Binding]]] = {}
        self.quiet: set[int] = set()  # nodes of an import call already resolved from its constant name
        self._resolving: set = set()

    # modules

    def module(self, name: str) -> Module | None:
        """The module an import of ``name`` loads; inside a folder that is a symbolic link, that folder."""
        entry = self.files.entries.get(name)
        while entry is None and "." in name:
            name = name.rpartition(".")[0]
            entry = self.files.entries.get(name)
            entry = entry if entry is not None and entry.kind == "link" else None
        return None if entry is None else self.load(entry)

    def load(self, entry: Entry) -> Module:
        if entry.path not in self._modules:
            self._modules[entry.path] = self._read(entry)
        return self._modules[entry.path]

    def _read(self, entry: Entry) -> Module:
        module = Module(entry.name, entry.path, entry.is_package)
        if entry.kind == "namespace":
            return module
        try:
            if entry.kind == "compiled":
                raise Unreadable("is compiled code, which cannot be checked", "compiled code")
            if entry.kind == "link":
                raise Unreadable("is a symbolic link to a folder, which is not checked", "unreadable")
            data = self.files.read(entry)
            size = source_size(data)
            if size > self.budget:
                raise Unreadable(f"was not checked: one scan reads at most {MAX_TOTAL_BYTES:,} bytes of Python",
                                  "size")
            self.budget -= size
            module.tree = salvage(data) if self.salvage else parse_module(data)
        except Unreadable as exc:
            module.reason, module.category = exc.reason, exc.category
            return module
        index_module(module)
        return module

    def internal(self, dotted: str) -> Module | None:
        """The submission's module for an absolute import, when its first name is one of the submission's."""
        if dotted.partition(".")[0] not in self.files.entries:
            return None
        return self.module(dotted)

    def scope(self, module: Module, top: ast.stmt) -> Scope:
        if id(top) not in module.scopes:
            module.scopes[id(top)] = build_scope(module, top)
        return module.scopes[id(top)]

    def step(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise TooComplex

    def guarded(self, key, compute: Callable[[], list]) -> list:
        """``compute()``, or nothing when ``key`` is already being resolved (a cycle)."""
        if key in self._resolving:
            return []
        self._resolving.add(key)
        try:
            return compute()
        finally:
            self._resolving.discard(key)

    # names

    def _binding_refs(self, module: Module, binding: Binding, name: str) -> list:
        if binding.kind == "def" or (binding.kind == "value" and binding.node is not None):
            return [Node(binding.node, module, binding.top)]
        if binding.kind == "import":
            return self.import_refs(module, binding.node, binding.alias)
        if binding.kind == "star":
            return self._star_refs(module, binding.node, name)
        return []

    def bound_refs(self, module: Module, name: str) -> list:
        """What a top-level name of ``module`` may denote when its functions run (no builtins)."""
        return [r for b in view(module, name, None) for r in self._binding_refs(module, b, name)]

    def global_refs(self, module: Module, name: str, before: int | None = None, local: bool = False) -> list:
        """What a global name may denote; a builtin when no statement surely binds it and no local shadows it."""
        bindings = view(module, name, before)
        refs = [r for b in bindings for r in self._binding_refs(module, b, name)]
        if not local and not any(b.certain for b in bindings):
            if name == "__builtins__":
                refs.append(Ext("builtins"))
            elif name in BUILTIN_NAMES:
                refs.append(Ext(f"builtins.{name}"))
        return refs

    def _name_refs(self, node: ast.Name, module: Module, top: ast.stmt) -> list:
        """Locals and globals alike (shadowing is ignored: a name may mean either), globals as seen when the
        name is evaluated: at import for decorators, defaults and module-level code, else when functions run."""
        scope = self.scope(module, top)
        local = scope.values.get(node.id, ())
        refs = [r for b in local for r in self._binding_refs(module, b, node.id)]
        before = scope.index if id(node) in scope.import_time else None
        return refs + self.global_refs(module, node.id, before, bool(local))

    def defined(self, module: Module, scope: Scope, name: str) -> bool:
        if name in scope.values or name in BUILTIN_NAMES or name in _MODULE_DUNDERS:
            return True
        return self._defined_globally(module, name)

    def _defined_globally(self, module: Module, name: str, seen: frozenset = frozenset()) -> bool:
        if module.bindings.get(name) or module.reason or module.path in seen:
            return True
        for star in module.stars:
            source = self._star_source(module, star.node)
            if not isinstance(source, Module) or self._defined_globally(source, name, seen | {module.path}):
                return True
        return False

    # imports

    def absolute_refs(self, dotted: str) -> list:
        refs: list = [Ext(dotted)]
        internal = self.internal(dotted)
        if internal is not None:
            refs.append(Mod(internal, dotted.partition(".")[0] not in sys.stdlib_module_names))
        return refs

    def relative_refs(self, module: Module, level: int, name: str | None) -> list:
        base = relative_base(module, level)
        found = None if base is None else self.module(join_name(base, name))
        if found is not None:
            return [Mod(found)]
        if not self.strict:
            return []
        return [Note(f"the import of {'.' * level}{name or ''}, which is not a Python file of the submission "
                      "(it cannot be checked)")]

    def import_refs(self, module: Module, stmt: ast.Import | ast.ImportFrom, alias: ast.alias) -> list:
        if isinstance(stmt, ast.Import):
            return self.absolute_refs(alias.name if alias.asname else alias.name.partition(".")[0])
        if stmt.level:
            sources = self.relative_refs(module, stmt.level, stmt.module)
        else:
            sources = [r for r in self.absolute_refs(stmt.module) if isinstance(r, Mod)]
            sources.insert(0, Ext(stmt.module))
        return [r for source in sources for r in self.attr(source, alias.name)]

    def _star_source(self, module: Module, stmt: ast.ImportFrom):
        """The submission's module a star import reads, the library's dotted name, or a note."""
        if stmt.level:
            refs = self.relative_refs(module, stmt.level, stmt.module)
            return refs[0].module if refs and isinstance(refs[0], Mod) else (refs[0] if refs else None)
        return self.internal(stmt.module) or stmt.module

    def _star_refs(self, module: Module, stmt: ast.ImportFrom, name: str) -> list:
        if name.startswith("_"):
            return []
        source = self._star_source(module, stmt)
        refs: list = []
        if not stmt.level and name not in BUILTIN_NAMES:
            refs.append(Ext(f"{stmt.module}.{name}"))
        if isinstance(source, Module):
            refs += self.guarded(("star", source.path, name), lambda: self.bound_refs(source, name))
        elif isinstance(source, Note):
            refs.append(source)
        return refs

    @staticmethod
    def import_names(stmt: ast.Import | ast.ImportFrom) -> list[str]:
        """The library names an import statement brings in (relative imports name the submission's files)."""
        if isinstance(stmt, ast.Import):
            return [alias.name for alias in stmt.names]
        if stmt.level:
            return []
        return [stmt.module if alias.name == "*" else f"{stmt.module}.{alias.name}" for alias in stmt.names]

    # attributes and calls

    def attr(self, ref, name: str) -> list:
        if name == "__dict__":  # vars(m) and m.__dict__ index the object itself
            return [ref]
        if isinstance(ref, Ext):
            return [Ext(f"{ref.dotted}.{name}")]
        if isinstance(ref, Mod):
            return self._module_attr(ref, name)
        if isinstance(ref, Node):
            return self._node_attr(ref, name)
        return [ref] if isinstance(ref, Note) else []

    def _module_attr(self, ref: Mod, name: str) -> list:
        module = ref.module
        if module.reason:
            return [Note(module.problem)]
        refs: list = []
        if module.is_package and (sub := self.module(join_name(module.name, name))) is not None:
            refs.append(Mod(sub, ref.exact))
        refs += self.guarded(("attr", module.path, name), lambda: self.bound_refs(module, name))
        if not refs:
            refs = self.bound_refs(module, "__getattr__")
        if not refs and ref.exact and self.strict and not (name.startswith("__") and name.endswith("__")):
            refs.append(Note(f"{name}, which {module.path} never defines (a name made at run time cannot be "
                              "checked)"))
        return refs

    def _class_members(self, ref: Node) -> dict[str, list[Binding]]:
        cls = ref.node
        if id(cls) not in self._members:
            members: dict[str, list[Binding]] = {}
            index = ref.module.top_index.get(id(ref.top), 0)
            for statement in cls.body:
                for node, _ in statements(statement):
                    for name, kind, value, alias in binds(node):
                        members.setdefault(name, []).append(Binding(kind, value, ref.top, index, False, alias))
            self._members[id(cls)] = members
        return self._members[id(cls)]

    def _node_attr(self, ref: Node, name: str) -> list:
        node = ref.node
        if isinstance(node, FUNCTIONS):
            return [Mod(ref.module)] if name == "__globals__" else []
        if isinstance(node, ast.ClassDef):
            refs = [r for b in self._class_members(ref).get(name, ()) for r in self._binding_refs(ref.module, b, name)]
            for base in node.bases:
                refs += self.guarded(("base", id(base), name), lambda base=base: [
                    a for r in self.refs(base, ref.module, ref.top) for a in self.attr(r, name)])
            return refs
        if isinstance(node, ast.Lambda):
            return []
        return [a for r in self.denote(ref) for a in self.attr(r, name)]

    def denote(self, ref: Node) -> list:
        """What the value expression of ``ref`` may evaluate to."""
        return self.guarded(("value", id(ref.node)), lambda: self.refs(ref.node, ref.module, ref.top))

    def call(self, ref) -> list:
        """What calling ``ref`` may return: a helper's return values, a lambda's body, a class's instance."""
        if isinstance(ref, Node):
            node = ref.node
            if isinstance(node, FUNCTIONS):
                return self.guarded(("call", id(node)), lambda: [
                    r for value in _returned(node) for r in self.refs(value, ref.module, ref.top)])
            if isinstance(node, ast.Lambda):
                return self.guarded(("call", id(node)), lambda: self.refs(node.body, ref.module, ref.top))
            if isinstance(node, ast.ClassDef):
                return [ref]
            return [c for r in self.denote(ref) for c in self.call(r)]
        return [ref] if isinstance(ref, Note) else []

    def computed(self, ref) -> list:
        """An attribute or item of ``ref`` chosen at run time."""
        if isinstance(ref, Ext):
            return [Computed(ref.dotted)]
        if isinstance(ref, Mod):
            return [All(ref.module)]
        if isinstance(ref, Node) and isinstance(ref.node, ast.ClassDef):
            return [ref]
        return []

    # expressions

    def refs(self, node: ast.AST, module: Module, top: ast.stmt) -> list:
        """What the expression ``node`` may denote (remembered unless computed inside a cycle guard)."""
        cacheable = not self._resolving
        if cacheable and id(node) in self._refs_cache:
            return self._refs_cache[id(node)]
        self.step()
        refs = unique(self._compute_refs(node, module, top))
        if cacheable:
            self._refs_cache[id(node)] = refs
        return refs

    def _compute_refs(self, node: ast.AST, module: Module, top: ast.stmt) -> list:
        refs = lambda child: self.refs(child, module, top)  # noqa: E731
        if isinstance(node, ast.Name):
            return self._name_refs(node, module, top) if isinstance(node.ctx, ast.Load) else []
        if isinstance(node, ast.Attribute):
            return [a for r in refs(node.value) for a in self.attr(r, node.attr)]
        if isinstance(node, ast.Subscript):
            return lookups.subscript_refs(self, node, module, top)
        if isinstance(node, ast.Call):
            special = lookups.special_call(self, node, module, top)
            return special if special is not None else [c for r in refs(node.func) for c in self.call(r)]
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
            return [Node(node, module, top)]
        return []

    # constant strings

    def fold(self, node: ast.AST, module: Module, top: ast.stmt, depth: int = 0) -> str | None:
        """The string ``node`` always evaluates to when constants alone decide it, else None."""
        if depth > FOLD_DEPTH:
            return None
        self.step()
        return fold_expression(node, lambda child: self.fold(child, module, top, depth + 1),
                               lambda name: self._fold_name(name, module, top, depth))

    def _fold_name(self, node: ast.Name, module: Module, top: ast.stmt, depth: int) -> str | None:
        """A local or global string constant: every binding that may give the name its value folds alike."""
        scope = self.scope(module, top)
        bindings = scope.values.get(node.id) or view(
            module, node.id, scope.index if id(node) in scope.import_time else None)
        values = set()
        for binding in bindings:
            if binding.kind == "value" and binding.node is not None:
                values.add(self.fold(binding.node, module, binding.top, depth + 1))
            elif binding.kind == "import":
                nodes = [r for r in self.import_refs(module, binding.node, binding.alias) if isinstance(r, Node)]
                values.update(self.fold(r.node, r.module, r.top, depth + 1) for r in nodes)
                if not nodes:
                    return None
            else:
                return None
        return values.pop() if len(values) == 1 else None


def _returned(function: ast.AST) -> Iterator[ast.AST]:
    """The values a function's own ``return`` statements give (not those of functions nested in it)."""
    stack = list(function.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Return) and node.value is not None:
            yield node.value
        if not isinstance(node, (*FUNCTIONS, ast.Lambda, ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(node))

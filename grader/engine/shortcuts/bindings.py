"""The facts collected from a module's syntax tree: which statements bind which names (imports, assignments,
defs, parameters, loop and ``with`` targets, patterns), which bindings surely run, what each top-level statement
binds inside itself and which of its names are evaluated at import. Name resolution (:mod:`.resolve`) reads them.
"""

from __future__ import annotations

import ast
import dataclasses
from typing import Iterator

FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


@dataclasses.dataclass(frozen=True, eq=False)
class Binding:
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
class Scope:
    """What one top-level statement binds inside itself (locals of its functions, class attributes, loop
    variables, local imports), and which of its names are evaluated when the module is imported."""
    index: int
    values: dict[str, list[Binding]] = dataclasses.field(default_factory=dict)
    import_time: set[int] = dataclasses.field(default_factory=set)
    annotations: set[int] = dataclasses.field(default_factory=set)


@dataclasses.dataclass(eq=False)
class Module:
    """One module of the submission: its parsed source and top-level names, or why it cannot be checked."""
    name: str
    path: str
    is_package: bool = False
    tree: ast.Module | None = None
    reason: str | None = None
    category: str = "unreadable"
    bindings: dict[str, list[Binding]] = dataclasses.field(default_factory=dict)
    stars: list[Binding] = dataclasses.field(default_factory=list)
    top_index: dict[int, int] = dataclasses.field(default_factory=dict)
    scopes: dict[int, Scope] = dataclasses.field(default_factory=dict)

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


def binds(node: ast.AST) -> Iterator[tuple]:
    """(name, kind, value, alias) for each name that ``node`` itself binds (not its sub-statements)."""
    if isinstance(node, (*FUNCTIONS, ast.ClassDef)):
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


def statements(top: ast.AST) -> Iterator[tuple[ast.AST, bool]]:
    """``top`` and the statements, handlers and patterns nested in its blocks (not in def or class bodies), each
    with whether it is ``top`` itself: only a statement of the body it belongs to surely runs."""
    stack = [(top, True)]
    while stack:
        node, certain = stack.pop()
        yield node, certain
        if isinstance(node, (*FUNCTIONS, ast.ClassDef)):
            continue
        if isinstance(node, ast.match_case):
            stack.extend((pattern, False) for pattern in ast.walk(node.pattern))
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            stack.extend((child, False) for child in getattr(node, field, ()) if isinstance(child, ast.AST))


def index_module(module: Module) -> None:
    """Record the module's top-level names: its statements' bindings, star imports, walrus targets at any depth
    and names that functions declare ``global`` and assign."""
    body = module.tree.body
    for index, top in enumerate(body):
        module.top_index[id(top)] = index
        for node, certain in statements(top):
            for name, kind, value, alias in binds(node):
                _add_binding(module, name, Binding(kind, value, top, index, certain, alias))
    declared, with_global = set(), []
    for index, top in enumerate(body):
        for node in ast.walk(top):
            if isinstance(node, ast.Global):
                declared.update(node.names)
                with_global.append(index)
            elif isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name):
                _add_binding(module, node.target.id, Binding("value", node.value, top, index))
    for index in dict.fromkeys(with_global):
        for node in ast.walk(body[index]):
            for name, kind, value, alias in binds(node):
                if name in declared and kind != "star":
                    _add_binding(module, name, Binding(kind, value, body[index], index, False, alias))


def _add_binding(module: Module, name: str, binding: Binding) -> None:
    (module.stars if binding.kind == "star" else module.bindings.setdefault(name, [])).append(binding)


def build_scope(module: Module, top: ast.stmt) -> Scope:
    """The names ``top`` binds inside itself; which of its names run at import; which sit in annotations."""
    scope = Scope(module.top_index[id(top)])
    stack = [(top, False, False)]
    while stack:
        node, deferred, annotation = stack.pop()
        if annotation:
            scope.annotations.add(id(node))
        elif isinstance(node, ast.Name) and not deferred:
            scope.import_time.add(id(node))
        for name, kind, value, alias in binds(node):
            scope.values.setdefault(name, []).append(Binding(kind, value, top, scope.index, False, alias))
        for field, value in ast.iter_fields(node):
            child_deferred = deferred or (field == "body" and isinstance(node, (*FUNCTIONS, ast.Lambda)))
            child_annotation = annotation or field in ("annotation", "returns")
            for child in value if isinstance(value, list) else [value]:
                if isinstance(child, ast.AST):
                    stack.append((child, child_deferred, child_annotation))
    return scope


def view(module: Module, name: str, before: int | None) -> list[Binding]:
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


def flatten(target: ast.AST) -> Iterator[ast.AST]:
    """The elements an assignment target assigns to (``a, (b.c, *d[0])``: ``a``, ``b.c``, ``d[0]``)."""
    if isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            yield from flatten(element)
    elif isinstance(target, ast.Starred):
        yield from flatten(target.value)
    else:
        yield target


"""Lookups spelled out in the code: ``getattr(jax.nn, "soft" + "max")``, ``obj.__getattribute__(...)``,
``importlib.import_module("jax.nn")`` and ``__import__``, ``sys.modules[...]``, ``vars(m)[...]``,
``m.__dict__[...]``, ``globals()[...]`` and ``operator.attrgetter``. A name folded from constants is followed as an
attribute or import; a computed one denotes an attribute chosen at run time, which the rules then judge.

Each function takes the scan's :class:`~grader.engine.shortcuts.resolve.Resolver` (``resolver``), which calls them
for the subscripts and calls it meets.
"""

from __future__ import annotations

import ast

from grader.engine.shortcuts.bindings import Module
from grader.engine.shortcuts.denotes import Ext, Mod, Note, unique
from grader.engine.shortcuts.folding import int_constant

_GETATTR = frozenset({"builtins.getattr", "inspect.getattr_static"})
_IMPORTERS = frozenset({"importlib.import_module", "builtins.__import__"})
_NAMESPACES = frozenset({"builtins.globals", "builtins.locals", "builtins.vars"})


def subscript_refs(resolver, node: ast.Subscript, module: Module, top: ast.stmt) -> list:
    """``sys.modules["jax.nn"]``, ``vars(m)["relu"]``, ``globals()["_r"]``; an item of a container may be any
    of its elements."""
    base = resolver.refs(node.value, module, top)
    key = node.slice
    if Ext("sys.modules") in base:
        return _module_by_name(resolver, key, module, top)
    name = resolver.fold(key, module, top)
    if name is not None:
        return base + [a for r in base for a in resolver.attr(r, name)]
    if isinstance(key, (ast.Constant, ast.Slice)):
        return base
    return base + [c for r in base for c in resolver.computed(r)]


def _module_by_name(resolver, key: ast.AST, module: Module, top: ast.stmt) -> list:
    """The module ``sys.modules[key]`` denotes: this module for ``__name__``, else the folded name."""
    if isinstance(key, ast.Name) and key.id == "__name__":
        return [Mod(module)]
    name = resolver.fold(key, module, top)
    if name is None:
        return [Note("sys.modules[...] with a computed name (a module chosen at run time cannot be checked)")]
    return resolver.absolute_refs(name)


def special_call(resolver, node: ast.Call, module: Module, top: ast.stmt) -> list | None:
    """getattr-likes, importers, globals()/vars() and operator.attrgetter; None for an ordinary call."""
    funcs = {r.dotted for r in resolver.refs(node.func, module, top) if isinstance(r, Ext)}
    args = node.args
    if funcs & _GETATTR and len(args) >= 2:
        return _getattr_refs(resolver, args[0], args[1], module, top)
    if isinstance(node.func, ast.Attribute) and node.func.attr in ("__getattribute__", "__getattr__") and args:
        obj, key = (node.func.value, args[0]) if len(args) == 1 else (args[0], args[1])
        return _getattr_refs(resolver, obj, key, module, top)
    if funcs & _IMPORTERS and args:
        return _import_call_refs(resolver, node, funcs, module, top)
    if funcs & _NAMESPACES:
        return resolver.refs(args[0], module, top) if args else [Mod(module)]
    if isinstance(node.func, ast.Call) and len(args) == 1:
        return _attrgetter_refs(resolver, node, module, top)
    return None


def _getattr_refs(resolver, obj: ast.AST, key: ast.AST, module: Module, top: ast.stmt) -> list:
    """``getattr(obj, key)``: the attribute when ``key`` folds to a constant, else one chosen at run time."""
    objects = resolver.refs(obj, module, top)
    name = resolver.fold(key, module, top)
    if name is None:
        return [c for r in objects for c in resolver.computed(r)]
    return [a for r in objects for a in resolver.attr(r, name)]


def _attrgetter_refs(resolver, node: ast.Call, module: Module, top: ast.stmt) -> list | None:
    """``operator.attrgetter("nn.relu")(jax)``."""
    maker = node.func
    if "operator.attrgetter" not in {r.dotted for r in resolver.refs(maker.func, module, top)
                                     if isinstance(r, Ext)} or not maker.args:
        return None
    refs = resolver.refs(node.args[0], module, top)
    path = resolver.fold(maker.args[0], module, top)
    if path is None:
        return [c for r in refs for c in resolver.computed(r)]
    for part in path.split("."):
        refs = unique(a for r in refs for a in resolver.attr(r, part))
    return refs


def _import_call_refs(resolver, node: ast.Call, funcs: set, module: Module, top: ast.stmt) -> list | None:
    """``importlib.import_module("jax.nn")``, ``__import__("jax.nn", fromlist=[...])``. With a computed name
    this is no special call: the importer itself then shows as code chosen at run time."""
    name = resolver.fold(node.args[0], module, top)
    if name is None:
        return None
    level = len(name) - len(name.lstrip("."))
    if "builtins.__import__" in funcs:
        level = level or _import_level(node)
    if level:
        refs = resolver.relative_refs(module, level, name.lstrip(".") or None)
    elif "builtins.__import__" in funcs and not _has_fromlist(node):
        refs = resolver.absolute_refs(name.partition(".")[0])
    else:
        refs = resolver.absolute_refs(name)
    resolver.quiet.update(id(n) for n in ast.walk(node.func))
    return refs


def _import_level(node: ast.Call) -> int:
    """The ``level`` an ``__import__`` call gives, when it is a constant (else 0: absolute)."""
    value = node.args[4] if len(node.args) > 4 else next(
        (k.value for k in node.keywords if k.arg == "level"), None)
    ok, level = int_constant(value)
    return level if ok and level else 0


def _has_fromlist(node: ast.Call) -> bool:
    """Whether an ``__import__`` call names a non-empty ``fromlist``: it then returns the module itself, not its top
    package."""
    value = node.args[3] if len(node.args) > 3 else next((k.value for k in node.keywords if k.arg == "fromlist"),
                                                          None)
    empty = value is None or (isinstance(value, ast.Constant) and not value.value) or (
        isinstance(value, (ast.List, ast.Tuple)) and not value.elts)
    return not empty

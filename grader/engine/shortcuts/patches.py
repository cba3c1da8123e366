"""Changes to libraries: an assignment to, deletion of or ``setattr`` on an attribute of a library
(``jnp.maximum = ...``, ``del jax.nn.relu``, ``sys.modules["jax.nn"] = ...``) anywhere in a module. A student function
whose module, or the code around it, changes the library of one of its forbidden names cannot be checked: what
the library does at run time is no longer what the scan reads.
"""

from __future__ import annotations

import ast

from grader.engine.shortcuts.bindings import FUNCTIONS, Module, flatten
from grader.engine.shortcuts.denotes import Ext, Node, unique
from grader.engine.shortcuts.resolve import Resolver, TooComplex

_SETATTR = frozenset({"builtins.setattr", "builtins.delattr"})


class LibraryChanges:
    """The library attributes each module of one scan changes (looked for once per module)."""

    def __init__(self, resolver: Resolver):
        self.resolver = resolver
        self._found: dict[str, list[tuple[str | None, str]]] = {}

    def of(self, module: Module) -> list[tuple[str | None, str]]:
        """(library, label) for each library attribute ``module`` assigns, deletes or ``setattr``s anywhere
        (``jnp.maximum = ...``); library None when the module is too complex to look through."""
        if module.path not in self._found:
            found: list[tuple[str | None, str]] = []
            self.resolver.steps = 0
            try:
                names = [name for top in (module.tree.body if module.tree is not None else ())
                         for node in ast.walk(top) for name in self._patched(node, module, top)]
                found = [(name.partition(".")[0], f"changes {name} (a library changed at run time cannot be "
                          "checked)") for name in names]
            except (RecursionError, TooComplex):
                found = [(None, f"{module.path} (too complex to check for changes to libraries)")]
            self._found[module.path] = unique(found)
        return self._found[module.path]

    def _patched(self, node: ast.AST, module: Module, top: ast.stmt) -> list[str]:
        targets: list[ast.AST] = []
        if isinstance(node, (ast.Assign, ast.Delete)):
            targets = list(node.targets)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        elif isinstance(node, ast.Call) and len(node.args) >= 2 and any(
                isinstance(r, Ext) and r.dotted in _SETATTR for r in self.resolver.refs(node.func, module, top)):
            return self._patched_names(node.args[0], node.args[1], module, top)
        names = []
        for target in targets:
            for element in flatten(target):
                if isinstance(element, ast.Attribute):
                    names += self._patched_names(element.value, ast.Constant(element.attr), module, top)
                elif isinstance(element, ast.Subscript):
                    names += self._patched_items(element, module, top)
        return names

    def _patched_names(self, obj: ast.AST, key: ast.AST, module: Module, top: ast.stmt) -> list[str]:
        name = self.resolver.fold(key, module, top) or "<computed name>"
        return [f"{dotted}.{name}" for dotted in self._library_objects(obj, module, top)]

    def _patched_items(self, target: ast.Subscript, module: Module, top: ast.stmt) -> list[str]:
        if "sys.modules" in self._library_objects(target.value, module, top):
            return [self.resolver.fold(target.slice, module, top) or "sys.modules.<computed name>"]
        return self._patched_names(target.value, target.slice, module, top)

    def _library_objects(self, node: ast.AST, module: Module, top: ast.stmt) -> list[str]:
        """The library names an expression may denote, looking through the submission's own variables."""
        found, todo, seen = [], list(self.resolver.refs(node, module, top)), set()
        while todo:
            ref = todo.pop()
            if ref in seen:
                continue
            seen.add(ref)
            if isinstance(ref, Ext):
                found.append(ref.dotted)
            elif isinstance(ref, Node) and not isinstance(ref.node, (*FUNCTIONS, ast.ClassDef, ast.Lambda)):
                todo.extend(self.resolver.denote(ref))
        return found

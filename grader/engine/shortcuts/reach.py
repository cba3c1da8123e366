"""What a student function reaches: from its name, every function, class and value it names, transitively, in
every module of the submission (cycles cut); each reached reference is judged by :mod:`.rules`. The code around
it counts too: the modules that run before it can (the package's ``__init__``, its own module and what they import
at top level) and the modules whose code it reaches are searched for changes to its forbidden libraries
(:mod:`.patches`). In files, a global name no module defines fails closed.
"""

from __future__ import annotations

import ast
from collections import deque
from typing import Iterable

from grader.engine.shortcuts.bindings import Module, statements
from grader.engine.shortcuts.denotes import All, Imported, Mod, Node, Note, unique
from grader.engine.shortcuts.layout import Files, join_name, relative_base
from grader.engine.shortcuts.patches import LibraryChanges
from grader.engine.shortcuts.resolve import REFERENCES, Resolver, TooComplex
from grader.engine.shortcuts.rules import label_of, most_specific


class Scan:
    """One scan of a submission's files: the labels each student function earns. Each file is parsed at most once,
    and what names denote, what code names and what modules change is remembered for the scan."""

    def __init__(self, files: Files, strict: bool, salvage: bool = False):
        self.resolver = Resolver(files, strict, salvage)  # strict: unknown names and missing modules fail closed
        self.changes = LibraryChanges(self.resolver)
        self._walked: dict[int, list] = {}
        self._imported: dict[str, list[Module]] = {}

    def _walk(self, ref: Node) -> list:
        """Everything the code of ``ref`` names, in source order (remembered per node)."""
        if id(ref.node) not in self._walked:
            self._walked[id(ref.node)] = self._walk_node(ref.node, ref.module, ref.top)
        return self._walked[id(ref.node)]

    def _walk_node(self, root: ast.AST, module: Module, top: ast.stmt) -> list:
        """What each expression and import under ``root`` names; in files, a note for each global name no module
        defines."""
        scope = self.resolver.scope(module, top)
        found: list = []
        for node in sorted(ast.walk(root), key=_position):
            if id(node) in self.resolver.quiet:
                continue
            if isinstance(node, REFERENCES):
                found += self.resolver.refs(node, module, top)
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found += [Imported(name) for name in self.resolver.import_names(node)]
            if (self.resolver.strict and isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
                    and id(node) not in scope.annotations and not self.resolver.defined(module, scope, node.id)):
                found.append(Note(f"{node.id}, which {module.path} never defines (a name made at run time "
                                   "cannot be checked)"))
        return found

    def _expand(self, ref) -> list:
        """What a reached reference leads to: the code of a def, class or value; every name of a module indexed by
        a computed name."""
        if isinstance(ref, Node):
            return self._walk(ref)
        if isinstance(ref, All):
            return [r for name in ref.module.bindings for r in self.resolver.bound_refs(ref.module, name)]
        return []

    def find(self, module_name: str, function: str, forbidden: Iterable[str]) -> list[str]:
        """The labels of ``function`` in module ``module_name``: the forbidden names it uses, what cannot be
        checked, and the library changes (of a forbidden name's package) made by the code around it."""
        forbidden = tuple(forbidden)
        module = self.resolver.module(module_name) if forbidden else None
        if module is None:
            return []
        if module.reason:
            return [module.problem]
        labels, reached = self._reach(module, function, forbidden)
        roots = {name.partition(".")[0] for name in forbidden}
        for around in unique([*self._import_time(module), *reached]):
            labels += [label for root, label in self.changes.of(around) if root is None or root in roots]
        return most_specific(unique(labels))

    def _reach(self, module: Module, function: str, forbidden: tuple[str, ...]) -> tuple[list[str], list[Module]]:
        """The labels of what ``function`` reaches, and the modules whose code it reaches."""
        labels: list[str] = []
        modules: list[Module] = []
        self.resolver.steps = 0
        try:
            queue = deque(self.resolver.global_refs(module, function))
            seen = set()
            while queue:
                ref = queue.popleft()
                if ref in seen:
                    continue
                seen.add(ref)
                if (label := label_of(ref, forbidden)) is not None:
                    labels.append(label)
                if isinstance(ref, (Node, Mod, All)):
                    modules.append(ref.module)
                queue.extend(self._expand(ref))
        except (RecursionError, TooComplex):
            labels.append(f"{function} (its code is too deeply nested or too complex to check)")
        return labels, modules

    def _import_time(self, module: Module) -> list[Module]:
        """The modules that run before a function of ``module`` can: the submission's package ``__init__``,
        ``module`` itself and the submission's modules it imports at top level, transitively."""
        if module.path not in self._imported:
            order, todo = [], [m for m in (self.resolver.module(""), module) if m is not None]
            while todo:
                current = todo.pop(0)
                if current in order:
                    continue
                order.append(current)
                todo += self._top_level_imports(current)
            self._imported[module.path] = order
        return self._imported[module.path]

    def _top_level_imports(self, module: Module) -> list[Module]:
        """The submission's modules that ``module``'s top-level import statements run (parent packages too)."""
        found: list[Module] = []
        for top in module.tree.body if module.tree is not None else ():
            for node, _ in statements(top):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names if self.resolver.internal(alias.name)]
                elif isinstance(node, ast.ImportFrom):
                    base = relative_base(module, node.level) if node.level else ""
                    target = None if base is None else join_name(base, node.module)
                    names = [target] if target and (node.level or self.resolver.internal(target)) else []
                    names += [join_name(target, alias.name) for alias in node.names if target is not None]
                else:
                    continue
                found += [m for name in names for m in self._with_parents(name)]
        return found

    def _with_parents(self, name: str) -> list[Module]:
        """The modules importing ``name`` runs: its packages, outermost first, then itself (those that exist)."""
        parts = name.split(".")
        prefixes = [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
        entries = self.resolver.files.entries
        return [self.resolver.load(entries[prefix]) for prefix in prefixes if prefix in entries]


def _position(node: ast.AST) -> tuple[int, int]:
    return getattr(node, "lineno", 0), getattr(node, "col_offset", 0)

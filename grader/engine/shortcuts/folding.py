"""Constant strings: the text an expression always evaluates to when constants alone decide it (concatenation,
f-strings, ``"".join``, ``%`` and ``format``, slicing, ``chr``, string methods), within a length cap. Names are
folded by the caller (:meth:`.resolve.Resolver.fold`), which hands each function here its ``fold``.
"""

from __future__ import annotations

import ast
import re
from typing import Callable

_STR_METHODS = frozenset({"lower", "upper", "strip", "lstrip", "rstrip", "casefold", "swapcase", "title",
                          "capitalize"})
FOLD_DEPTH = 24
FOLD_LENGTH = 1_000
_WIDE_FORMAT = re.compile(r"\d{4,}")  # a width or precision that would build a huge string


def int_constant(node: ast.AST | None) -> tuple[bool, int | None]:
    """(True, value) for a missing bound or an int literal (negative too), else (False, None)."""
    if node is None:
        return True, None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        ok, value = int_constant(node.operand)
        return (ok and value is not None), (-value if ok and value is not None else None)
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return True, node.value
    return False, None


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
        ok, times = int_constant(node.right)
        return left * times if ok and times is not None and len(left) * max(times, 0) <= FOLD_LENGTH else None
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
        ok, code = int_constant(args[0])
        return chr(code) if ok and code is not None and 0 <= code < 0x110000 else None
    return None


def _fold_subscript(node: ast.Subscript, fold) -> str | None:
    base = fold(node.value)
    key = node.slice
    if base is None:
        return None
    if isinstance(key, ast.Slice):
        bounds = [int_constant(part) for part in (key.lower, key.upper, key.step)]
        if all(ok for ok, _ in bounds) and bounds[2][1] != 0:
            return base[slice(*(value for _, value in bounds))]
        return None
    ok, index = int_constant(key)
    return base[index] if ok and index is not None and -len(base) <= index < len(base) else None


def fold_expression(node: ast.AST, fold: Callable[[ast.AST], str | None],
                    fold_name: Callable[[ast.Name], str | None]) -> str | None:
    """The string ``node`` always evaluates to when constants alone decide it, else None: its parts are folded by
    ``fold``, a name by ``fold_name`` (what the name is bound to is the caller's to know)."""
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
        value = fold_name(node)
    else:
        value = None
    return value if isinstance(value, str) and len(value) <= FOLD_LENGTH else None

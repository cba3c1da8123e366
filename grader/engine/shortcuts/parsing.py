"""One file read as Python, as the importer would: its size capped before it is read, its bytes decoded by their
coding cookie, parsed; or, for a notebook's cells, the statements that parse. Whatever cannot be read so raises
:class:`Unreadable` with the reason, and the file fails closed.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import stat
from pathlib import Path

MAX_SOURCE_BYTES = 1_000_000  # a larger file is not parsed: what lives in it, or reaches into it, cannot be checked
_SALVAGE_ATTEMPTS = 200


class Unreadable(Exception):
    """A module that cannot be checked: ``reason`` completes "<path> ...", ``category`` labels a review flag."""

    def __init__(self, reason: str, category: str = "unreadable"):
        super().__init__(reason)
        self.reason, self.category = reason, category


def source_size(data: str | bytes) -> int:
    """The size of a source in bytes (a text as UTF-8); past the cap, any larger count will do."""
    if isinstance(data, bytes) or len(data) > MAX_SOURCE_BYTES:
        return len(data)
    return len(data.encode("utf-8", "surrogatepass"))


def check_size(size: int) -> None:
    """Raise :class:`Unreadable` for a file of ``size`` bytes, past MAX_SOURCE_BYTES."""
    if size > MAX_SOURCE_BYTES:
        raise Unreadable(f"is too large to check ({size:,} bytes; the cap is {MAX_SOURCE_BYTES:,})", "size")


def read_capped(path: Path) -> bytes:
    """The bytes of a regular file of at most MAX_SOURCE_BYTES; its size is checked before anything is read."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise Unreadable("is not a regular file")
        check_size(info.st_size)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise Unreadable("is not a regular file")
            chunks, size = [], 0
            while chunk := os.read(fd, 1 << 16):
                size += len(chunk)
                check_size(size)
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)
    except OSError as exc:
        raise Unreadable(f"could not be read ({exc.strerror or exc})") from None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return f"{exc.msg} (line {exc.lineno})" if exc.lineno else str(exc.msg)
    return str(exc) or type(exc).__name__


def ast_parse(data: str | bytes) -> ast.Module:
    """``ast.parse``; bytes are decoded by their coding cookie, as the importer does. CPython 3.11 can raise a
    spurious SystemError ("AST constructor recursion depth mismatch") while another thread compiles: retried."""
    for attempt in range(5):
        try:
            return ast.parse(data)
        except SystemError:
            if attempt == 4:
                raise


def parse_module(data: str | bytes) -> ast.Module:
    """Parse a module file: anything Python could not compile fails closed."""
    try:
        return ast_parse(data)
    except (SyntaxError, ValueError, UnicodeError, LookupError, MemoryError, RecursionError, SystemError) as exc:
        raise Unreadable(f"could not be read as Python: {_reason(exc)}") from None


def _decode(data: str | bytes) -> str:
    if isinstance(data, str):
        return data
    try:
        return importlib.util.decode_source(data)
    except (SyntaxError, UnicodeError, LookupError) as exc:
        raise Unreadable(f"could not be read as Python: {_reason(exc)}") from None


def _starts_statement(line: str) -> bool:
    return bool(line.strip()) and line[0] not in " \t#"


def salvage(data: str | bytes) -> ast.Module:
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
            raise Unreadable("could not be read as Python: too many syntax errors")
        try:
            tree = ast_parse("".join(lines[start:stop]))
        except SyntaxError as exc:
            bad = min(max(start + (exc.lineno or 1) - 1, start), stop - 1)
            first = next((i for i in range(bad, start - 1, -1) if _starts_statement(lines[i])), start)
            after = next((i for i in range(bad + 1, stop) if _starts_statement(lines[i])), stop)
            parse(start, first)
            parse(after, stop)
            return
        except (ValueError, MemoryError, RecursionError, SystemError) as exc:
            raise Unreadable(f"could not be read as Python: {_reason(exc)}") from None
        ast.increment_lineno(tree, start)
        body.extend(tree.body)

    parse(0, len(lines))
    return ast.Module(body=body, type_ignores=[])


"""Removing a folder a child wrote in, whatever it left there.

A child's code chooses the shape of what it leaves: a tree thousands of folders deep (deeper than Python's
recursion limit and longer than ``PATH_MAX`` as a path), folders it made unreadable, names that are not valid
UTF-8, symbolic links pointing anywhere. :func:`remove_tree` walks such a tree without recursion and without
building paths: it holds a stack of open folder descriptors and removes each entry relative to its folder
(``unlinkat``), never following a link, so memory and descriptors grow with the depth only (one descriptor per
level) and nothing outside the tree is touched. An error is returned as one line, never raised: cleaning up after
one submission cannot stop the grading of the next.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _open_folder(name: str | bytes, parent: int | None) -> int:
    """Open ``name`` (relative to the folder ``parent``) as a folder, letting its owner read it first if needed
    (a child may have made it unreadable; the grader owns or may change it)."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent)
    except PermissionError:
        os.chmod(name, 0o700, dir_fd=parent, follow_symlinks=False)
        return os.open(name, _DIR_FLAGS, dir_fd=parent)


def _empty_files(fd: int, problems: list[str]) -> list[bytes]:
    """Unlink every entry of the open folder ``fd`` that is not a folder; return the names of its folders."""
    folders = []
    with os.scandir(fd) as entries:
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    folders.append(os.fsencode(entry.name))
                else:
                    os.unlink(entry.name, dir_fd=fd)
            except FileNotFoundError:
                pass
            except OSError as exc:
                problems.append(exc.strerror or str(exc))
    return folders


def remove_tree(path: str | Path) -> str | None:
    """Remove ``path`` and everything under it (a file or a symbolic link is just unlinked); return ``None``, or
    one line saying what could not be removed. Missing is not an error.

    Depth first with an explicit stack of ``[open folder, its name, its folders not yet removed]``: each folder
    is listed once, its files unlinked, its folders entered one after another, and it is removed from its parent
    once empty."""
    path = os.fsencode(str(path))
    problems: list[str] = []
    stack: list[list] = []
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            os.unlink(path)
            return None
        fd = _open_folder(path, None)
        stack.append([fd, path, _empty_files(fd, problems)])
        while stack:
            fd, _name, pending = stack[-1]
            if pending:
                name = pending.pop()
                try:
                    child = _open_folder(name, fd)
                except FileNotFoundError:
                    continue
                stack.append([child, name, _empty_files(child, problems)])
                continue
            stack.pop()
            os.close(fd)
            try:
                if stack:
                    os.rmdir(_name, dir_fd=stack[-1][0])
                else:
                    os.rmdir(path)
            except FileNotFoundError:
                pass
    except FileNotFoundError:
        pass
    except OSError as exc:
        problems.append(exc.strerror or str(exc))
    finally:
        for fd, _name, _pending in stack:
            os.close(fd)
    return f"could not remove all of {os.fsdecode(path)}: {problems[0]}" if problems else None

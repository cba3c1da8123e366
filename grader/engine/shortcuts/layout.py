"""Which file of a submission is which module, as Python's importer resolves it (a package folder, then a
compiled module, a ``.py``, a bare ``.pyc``, last a plain folder), for a folder on disk, modules handed over in
memory, or one source; and the names relative imports lead to.
"""

from __future__ import annotations

import dataclasses
import importlib.machinery
import os
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping

from grader.engine.shortcuts.parsing import check_size, read_capped, source_size

if TYPE_CHECKING:
    from grader.engine.shortcuts.bindings import Module

MAX_FILES = 1_000  # Python files listed in a submission folder


@dataclasses.dataclass(frozen=True)
class Entry:
    """A module as the importer would find it: ``kind`` "source", "compiled", "namespace" (a plain folder) or
    "link" (a folder that is a symbolic link)."""
    name: str
    path: str
    kind: str = "source"
    is_package: bool = False
    data: str | bytes | None = None  # the text itself, for sources handed over in memory


@dataclasses.dataclass
class Files:
    """The modules of one scan by import name, and where to read them."""
    entries: dict[str, Entry]
    root: Path | None = None
    paths: tuple[str, ...] = ()  # every listed file of a folder, sorted
    links: tuple[str, ...] = ()  # its folders that are symbolic links
    truncated: bool = False  # the folder has more than MAX_FILES Python files

    def read(self, entry: Entry) -> str | bytes:
        """The source of ``entry``: its text handed over, or its file's bytes (sizes capped)."""
        if entry.data is not None:
            check_size(source_size(entry.data))
            return entry.data
        return read_capped(self.root / entry.path)


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


def entry_for(path: str, **extra) -> tuple[Entry, int]:
    """The module a listed file provides, and its rank among the files that could provide that module."""
    *folders, filename = path.split("/")
    stem, rank = _module_file(filename)
    kind = "source" if rank == 1 else "compiled"
    if stem == "__init__":
        return Entry(".".join(folders), path, kind, True, **extra), rank
    return Entry(".".join([*folders, stem]), path, kind, **extra), 3 + rank


def _index(paths: Iterable[str], data: Mapping[str, str | bytes] | None = None,
           links: Iterable[str] = ()) -> dict[str, Entry]:
    """Import name -> entry, as Python's importer resolves it: a package (folder with ``__init__``) first, then
    a compiled module, a ``.py``, a bare ``.pyc``, and last a plain folder (namespace package). A folder that is
    a symbolic link is an entry that cannot be checked."""
    best: dict[str, tuple[int, Entry]] = {"": (9, Entry("", "the submission folder", "namespace", True))}
    for link in links:
        best[link.replace("/", ".")] = (-1, Entry(link.replace("/", "."), link + "/", "link", True))
    for path in paths:
        *folders, filename = path.split("/")
        for depth in range(1, len(folders) + 1):
            name = ".".join(folders[:depth])
            best.setdefault(name, (9, Entry(name, "/".join(folders[:depth]) + "/", "namespace", True)))
        if filename.startswith("."):
            continue
        entry, rank = entry_for(path, data=None if data is None else data[path])
        if entry.name not in best or rank < best[entry.name][0]:
            best[entry.name] = (rank, entry)
    return {name: entry for name, (_, entry) in best.items()}


def directory_files(directory: str | Path) -> Files:
    """The module files of a submission folder, subfolders included (none when it is no folder)."""
    root = Path(directory)
    paths, links, truncated = _list_files(root) if root.is_dir() else ([], [], False)
    return Files(_index(paths, links=links), root, tuple(paths), tuple(links), truncated)


def source_files(sources: Mapping[str, str | bytes]) -> Files:
    """In-memory modules ``{module name: text}``; a name may be dotted (``pkg.helpers``) or end in ``__init__``."""
    data = {name.removesuffix(".py").replace(".", "/") + ".py": text for name, text in sources.items()}
    return Files(_index(sorted(data), data))


def single_file(source: str | bytes) -> Files:
    """One source (a module, or a notebook's cells) as the module ``__main__``."""
    return Files({"__main__": Entry("__main__", "the source", data=source)})


def join_name(base: str, name: str | None) -> str:
    """``base.name``, either part possibly empty."""
    return ".".join(part for part in (base, name) if part)


def relative_base(module: Module, level: int) -> str | None:
    """The package a relative import of ``level`` dots starts from, or None above the submission folder."""
    base = module.name if module.is_package else module.name.rpartition(".")[0]
    for _ in range(level - 1):
        if not base:
            return None
        base = base.rpartition(".")[0]
    return base

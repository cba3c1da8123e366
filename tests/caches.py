"""The suite's trusted caches, copied into the isolated homes of tests that run the real commands.

A test that gives ``grade`` or ``nbgrader`` its own ``XDG_CACHE_HOME`` (so nothing it does can touch the user's
caches) would otherwise start cold: ``grade warm`` again, every XLA program compiled again in every sandboxed
child, the reference observed again. Those caches are filled by trusted code only (the suite's session fixture
in ``tests/conftest.py`` and this module, never a student's child), so a copy is what an instructor's machine
holds after ``grade warm`` and one graded run. Tests whose subject is a cold start do not seed.
"""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

from grader import rubric
from grader.data import datasets
from grader.engine import compile_cache, references


@functools.lru_cache(maxsize=None)
def trusted() -> tuple[Path, ...]:
    """The suite's filled caches: the compilation cache (warmed here if needed) and the reference observations
    of the kit's solutions on every probe, digits, as ``grade`` keeps them on disk."""
    compile_cache.ensure_warm()
    references.observations(probes=[*rubric.PROBES, *rubric.FIGURE_PROBES])
    folders = [compile_cache.directory(), references.disk_cache(None, datasets.DIGITS)]
    return tuple(f for f in folders if f is not None and f.is_dir())


def seed(xdg_cache_home: Path) -> Path:
    """Copy the trusted caches into ``xdg_cache_home`` (created if missing); return it."""
    for folder in trusted():
        shutil.copytree(folder, Path(xdg_cache_home) / folder.parent.name / folder.name, dirs_exist_ok=True)
    Path(xdg_cache_home).mkdir(parents=True, exist_ok=True)
    return Path(xdg_cache_home)


def changed(xdg_cache_home: Path) -> list[str]:
    """Files under ``xdg_cache_home``'s kit folder that :func:`seed` did not put there, or that differ from the
    trusted copies: what a run added to the caches or altered in them."""
    base = Path(xdg_cache_home) / "dl-basics-grader"
    trusted_files = {Path(folder.name) / p.relative_to(folder): p for folder in trusted()
                     for p in folder.rglob("*") if p.is_file()}
    out = []
    for path in sorted(base.rglob("*")) if base.is_dir() else []:
        rel = path.relative_to(base)
        if path.is_file() and (rel not in trusted_files or path.read_bytes() != trusted_files[rel].read_bytes()):
            out.append(rel.as_posix())
    return out

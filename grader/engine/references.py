"""The reference: which implementation the student's observations are compared with, and its observations,
computed once per process and kept on disk between processes.

The reference is a solutions folder, ``"library"`` (the trusted implementations, :mod:`grader.engine.trusted`), or by
default the kit's ``solutions/`` when present. Its observations are stored under a key of everything that
determines them (:func:`disk_cache`), each file beside its SHA-256; only trusted code writes them, and the
sandboxed children can neither read nor write them.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from pathlib import Path
from typing import Callable, Iterable

from grader import KIT_DIR, PACKAGE_DIR, rubric
from grader.checks.common import Observations
from grader.data import datasets
from grader.engine import cache_dir, submission, trusted, wire
from grader.engine.probing import observe
from grader.errors import BrokenReference

KIT_SOLUTIONS = KIT_DIR / "solutions"


def functions(reference: str | Path | None = None) -> dict[str, Callable]:
    """The reference: a solutions directory, ``"library"`` for the trusted library, or by default the kit's
    ``solutions/`` when present and the library otherwise. :class:`BrokenReference` when it does not load."""
    if reference == "library" or (reference is None and not KIT_SOLUTIONS.is_dir()):
        return dict(trusted.FUNCTIONS)
    functions, errors = submission.load_functions(reference or KIT_SOLUTIONS)
    if errors:
        details = "; ".join(f"{name}: {message}" for name, message in errors.items())
        raise BrokenReference(f"the reference in {reference or KIT_SOLUTIONS} does not load: {details}")
    return functions


def describe_reference(reference: str | Path | None) -> str:
    path = _reference_path(reference)
    return "the trusted library functions" if path is None else str(path)


def sound_reference(observations: dict[str, Observations], reference: str | Path | None) -> dict[str, Observations]:
    """``observations`` of the reference, checked before anything is judged against them: a probe the reference
    failed (it raised, or returned what cannot be recorded) raises :class:`BrokenReference` naming the reference
    and the probe, instead of failing the student's checks that compare with it."""
    failed = {name: obs.errors for name, obs in observations.items() if obs.errors}
    if not failed:
        return observations
    name, errors = next(iter(failed.items()))
    key, message = next(iter(errors.items()))
    where = "" if key == "*" else f" ({key})"
    more = f"; {len(failed) - 1} more probes failed too" if len(failed) > 1 else ""
    raise BrokenReference(f"the reference ({describe_reference(reference)}) failed on the probe {name}{where}: "
                          f"{message}{more}")


_reference_cache: dict[str, dict[str, Observations]] = {}


def _reference_path(reference: str | Path | None) -> Path | None:
    if reference == "library" or (reference is None and not KIT_SOLUTIONS.is_dir()):
        return None
    return Path(reference or KIT_SOLUTIONS)


def disk_cache(reference: str | Path | None, data: datasets.DataSpec) -> Path | None:
    """Where the reference's observations are kept between runs, keyed by everything that determines them:
    the grader's sources, the reference's sources, the library versions and the dataset (its name and the
    checksums its files were verified against). ``DL_BASICS_NO_CACHE=1`` disables."""
    if os.environ.get("DL_BASICS_NO_CACHE"):
        return None
    import importlib.metadata as md
    import platform
    h = hashlib.sha256()
    ref = _reference_path(reference)
    for root in [PACKAGE_DIR] + ([ref] if ref else []):
        for path in sorted(root.rglob("*.py")):
            if "__pycache__" not in path.parts:
                h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    for package in ("jax", "jaxlib", "numpy", "optax"):
        h.update(f"{package}={md.version(package)}".encode())
    h.update(f"{sys.version} {platform.machine()} {'library' if ref is None else 'dir'}".encode())
    h.update(data.identity().encode())
    return cache_dir.root() / f"reference-{h.hexdigest()[:24]}"


def read_cached(folder: Path, name: str) -> Observations | None:
    """A cached reference observation, if its bytes still have the SHA-256 written beside them when it was
    stored; anything else (missing, altered, unreadable) is ignored and recomputed."""
    try:
        payload = (folder / f"{name}.npz").read_bytes()
        digest = (folder / f"{name}.sha256").read_text().strip()
        if hashlib.sha256(payload).hexdigest() != digest:
            return None
        return wire.decode_observations(payload)[1]
    except (OSError, wire.WireError):
        return None


def write_cached(folder: Path, name: str, obs: Observations) -> None:
    """Store an observation and its digest, each written whole (a temporary file, then a rename)."""
    payload = wire.encode_observations(name, obs)
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        for suffix, content in ((".npz", payload), (".sha256", hashlib.sha256(payload).hexdigest().encode())):
            tmp = folder / f".{name}{suffix}.{os.getpid()}.{threading.get_ident()}.tmp"
            tmp.write_bytes(content)
            os.replace(tmp, folder / f"{name}{suffix}")
    except OSError:
        pass


def observations(reference: str | Path | None = None, probes: Iterable[str] | None = None,
                           data: datasets.DataSpec = datasets.DIGITS,
                           seeds: dict[str, int] | None = None) -> dict[str, Observations]:
    """Observations of the reference: computed once per process, and kept on disk between processes.

    A hidden probe's are kept under its name and seed (``seeds``), one set per student.
    Only trusted code writes the disk cache (this process, which runs no student code); the sandboxed
    children can neither read nor write it (:mod:`grader.engine.confine`)."""
    seeds = seeds or {}
    probes = list(rubric.PROBES if probes is None else probes)
    stored = {p: f"{p}-{seeds[p]}" if p in seeds else p for p in probes}  # the cache's name of each probe
    cached = _reference_cache.setdefault(f"{reference}|{data.identity()}", {})
    wanted = [p for p in probes if stored[p] not in cached]
    folder = disk_cache(reference, data) if wanted else None
    for name in list(wanted) if folder is not None else []:
        found = read_cached(folder, stored[name])
        if found is not None:
            cached[stored[name]] = found
            wanted.remove(name)
    if wanted:
        fresh = observe(functions(reference), {}, wanted, data, seeds)
        for name, obs in fresh.items():
            cached[stored[name]] = obs
            if folder is not None and not obs.errors:
                write_cached(folder, stored[name], obs)
    return {p: cached[stored[p]] for p in probes}

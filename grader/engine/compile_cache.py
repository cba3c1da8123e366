"""JAX's persistent compilation cache, filled by trusted code only and read-only to the sandboxed children.

Most of a child's time goes to compiling XLA programs (each eager primitive per shape, each training step),
and most of those programs are the same for every submission: the probes' scaffolding, the library parts of
the trainings, the primitives on the probes' shapes. ``grade warm`` (and ``grade batch`` before its first
student) runs every probe on the trusted library functions in a separate process with JAX's persistent cache
switched on, then marks the folder ready. Children get the folder through ``JAX_COMPILATION_CACHE_DIR`` with
a Landlock rule that lets them read it and nothing more, so one student's child can never plant an
executable that another's runs; they still compile (and cannot store) what is their own.

The library functions fill it, not the reference solutions, so that no executable of the instructor's code
is readable by a child.

A student never runs ``grade warm``, so the first ``grade PATH`` or ``pytest exercises/`` whose cache is not ready for
this version of the kit fills it itself (:func:`fill_if_needed`): the same trusted fill, in its own process, once
(processes that start together take turns on a lock file), with a line on stderr saying so. A fill that fails
never stops grading, which only runs slower; it is not tried again automatically for this version of the kit
(``grade warm`` tries again).
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

from grader import KIT_DIR
from grader.engine import cache_dir

READY = "READY"  # a marker per dataset: READY-digits, READY-fashion-mnist (its text names the kit's version)
FAILED = "FAILED"  # a marker per dataset when an automatic fill failed (its text names the kit's version)
# How the programs are keyed, named in the markers: a cache filled under another scheme is filled again. JAX puts the
# cache folder's path into the compile options it hashes (for a GPU autotuning cache) unless told not to; these
# keys leave it out, so a child reading a copy of the folder (see sandbox) finds the programs the fill stored.
KEYS = "keys without the folder's path"
# About how long the fill takes on a 2-core machine, per dataset (for the notice of the first run).
FILL_SECONDS = {"digits": 45, "fashion-mnist": 120}


def directory() -> Path:
    """The cache folder of this JAX and jaxlib version, in the user's cache (``DL_BASICS_NO_CACHE=1``: none)."""
    from importlib.metadata import version
    return cache_dir.root() / f"jax-compile-{version('jax')}-{version('jaxlib')}"


def ready_directory(dataset: str | None = None) -> Path | None:
    """The cache folder when trusted code has filled it (for ``dataset``, or for any), else None."""
    if os.environ.get("DL_BASICS_NO_CACHE"):
        return None
    folder = directory()
    pattern = f"{READY}-{dataset}" if dataset else f"{READY}-*"
    return folder if any(folder.glob(pattern)) else None


def kit_version() -> str:
    """The version of the installed kit, which the markers name: a new version fills the cache again."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("dl-basics-grader")
    except PackageNotFoundError:
        return "unknown"


def _stamp() -> str:
    """What a marker says of the kit that wrote it: its version and how the programs are keyed (:data:`KEYS`)."""
    return f"kit {kit_version()}\n{KEYS}\n"


def _marker_text() -> str:
    return f"filled by trusted code\n{_stamp()}"


def _marks_this_kit(path: Path) -> bool:
    try:
        return _stamp() in path.read_text()
    except OSError:
        return False


def ready_for_this_kit(dataset: str = "digits") -> bool:
    """Whether trusted code has filled the cache for ``dataset`` with this version of the kit."""
    return ready_directory(dataset) is not None and _marks_this_kit(directory() / f"{READY}-{dataset}")


def settings(folder: Path) -> dict[str, str]:
    """The environment that points JAX at ``folder`` and lets it keep every program, however quick, under keys
    that do not depend on the folder's path (no XLA GPU caches beside it, :data:`KEYS`): the fill and every child,
    whichever copy of the folder it reads, compute the same key for the same program."""
    return {"JAX_COMPILATION_CACHE_DIR": str(folder), "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
            "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "-1", "JAX_PERSISTENT_CACHE_ENABLE_XLA_CACHES": "none"}


def _dataset_name(data_json: str | None) -> str:
    return json.loads(data_json)["name"] if data_json else "digits"


def _shared_folder() -> Path:
    """The cache folder, made if need be and shared (:func:`share`)."""
    folder = directory()
    folder.mkdir(parents=True, exist_ok=True)
    return share(folder)


def share(folder: Path) -> Path:
    """Make ``folder`` (and the kit's cache folder holding it) readable by every user, since the sandboxed
    children may run as users of their own; only trusted code writes it, and nothing in it is private (compiled
    programs of the public probes, the digits split). The reference caches beside it stay private (0700)."""
    for path in (folder.parent, folder):
        path.chmod(path.stat().st_mode | 0o755)
    return folder


def warm(data_json: str | None = None) -> Path:
    """Fill the cache in a fresh process that runs no student code; return the folder."""
    folder = _shared_folder()
    env = dict(os.environ, **settings(folder), JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")
    # With digits, the process also saves the split, so no child imports scikit-learn to read it.
    code = ("import sys\nfrom grader import rubric\nfrom grader.data import datasets\n"
            "from grader.engine import probing, trusted\n"
            "data = datasets.DataSpec.from_json(sys.argv[1]) if sys.argv[1] else datasets.DIGITS\n"
            "probing.observe(dict(trusted.FUNCTIONS), {}, [*rubric.PROBES, *rubric.FIGURE_PROBES], data)\n"
            "if data.name == 'digits':\n    datasets.save_digits(sys.argv[2])\n")
    subprocess.run([sys.executable, "-c", code, data_json or "", str(folder)], env=env, check=True,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=KIT_DIR)
    (folder / f"{READY}-{_dataset_name(data_json)}").write_text(_marker_text())
    (folder / f"{FAILED}-{_dataset_name(data_json)}").unlink(missing_ok=True)
    return folder


def ensure_warm(data_json: str | None = None, notice: Callable[[str], None] | None = None) -> bool:
    """Fill the cache for the dataset of ``data_json`` (default digits) unless it is filled for this version of
    the kit or caching is off; return whether it was filled now. Processes that start at once (two batches, the
    workers of a test run, two students' terminals) take turns on a lock file: the first fills the cache, the
    others find it ready. ``notice`` is told, in a line, when this process fills it or waits for another one."""
    dataset = _dataset_name(data_json)
    if os.environ.get("DL_BASICS_NO_CACHE") or ready_for_this_kit(dataset):
        return False
    folder = _shared_folder()
    with open(folder.parent / f".{folder.name}.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if notice:
                notice("waiting for another process that is filling the compilation cache")
            fcntl.flock(lock, fcntl.LOCK_EX)
        if ready_for_this_kit(dataset):
            return False
        if notice:
            notice(f"filling the compilation cache once (about {FILL_SECONDS.get(dataset, 60)} s); "
                   "later runs start faster")
        warm(data_json)
    return True


def fill_if_needed(data_json: str | None = None, say: Callable[[str], None] | None = None) -> bool:
    """The first run's fill (``grade PATH``, ``pytest exercises/``): :func:`ensure_warm`, its notice told to
    ``say`` (by default one line on stderr), unless an automatic fill already failed for this version of the kit.
    A failure to fill never stops grading: it is told in a line, marked, and grading goes on, slower. Returns
    whether the cache was filled now."""
    say = say or (lambda line: print(line, file=sys.stderr, flush=True))
    dataset = _dataset_name(data_json)
    try:
        if os.environ.get("DL_BASICS_NO_CACHE") or _marks_this_kit(directory() / f"{FAILED}-{dataset}"):
            return False
        return ensure_warm(data_json, say)
    except Exception as exc:  # noqa: BLE001 - grading goes on without the cache
        reason = exc.stderr.decode(errors="replace").strip().splitlines()[-1:] if isinstance(
            exc, subprocess.CalledProcessError) and exc.stderr else []
        say(f"could not fill the compilation cache ({reason[0] if reason else exc}); grading goes on, slower "
            "(grade warm tries again)")
        try:
            (directory() / f"{FAILED}-{dataset}").write_text(f"automatic fill failed\n{_stamp()}")
        except OSError:
            pass
        return False

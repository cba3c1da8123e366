"""Run the probes on a submission in a sandboxed child process.

The child gets a fresh temporary directory holding a copy of the submission's ``.py`` files and a copy of
the grader package (not the kit's ``solutions/``), a scrubbed environment, stdin from ``/dev/null``, its own
session, and resource limits: address space, CPU time, and the size of any file it writes (its output
included). On top of that it runs under every kernel layer the machine offers (:mod:`grader.engine.confine`):
new user, network, PID and mount namespaces; a Landlock allow-list under which its copies are read-only and
a fresh home folder is the only writable place; seccomp. It reports through a pipe the parent opened, in
frames authenticated with a key handed over before any student code runs (see :mod:`grader.engine.wire`); the
parent accepts only the frames of the protocol, in order, for the probes it asked for, within a memory
budget per submission.

Wall time is limited three ways: the imports of one child together (``import_seconds``), each probe
(``probe_seconds``), and the whole submission (``time_budget``: every child, import, probe and restart). When a
probe or the imports overrun, or the child dies, the parent ends the whole process tree, records the failure for
that probe (or module) only, and starts a new child for the probes that remain; a child that settles nothing is not
replaced, so a lane starts at most one child per probe and module. When the budget runs out, the probe under way and
every probe not yet run fail with a message saying so. The parent is a child subreaper, so processes that escape
the session (``setsid``, double fork) are re-parented to it and ended too.

The parts, each in a module of its own: :mod:`grader.engine.sandbox_run` (the limits and what comes back),
:mod:`grader.engine.lanes` (how many children side by side, and which probes each takes),
:mod:`grader.engine.supervision` (one child: started, its frames read, its time limits),
:mod:`grader.engine.seed_gate` (when the hidden seeds may leave) and :mod:`grader.engine.reaping` (ending the children
and cleaning up after them). This module prepares the submission's folder and runs its lanes.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable

from grader import PACKAGE_DIR, locate, rubric
from grader.data import datasets
from grader.engine import cache_dir, cleanup, code_policy, compile_cache, confine, probing, reaping, wire
from grader.engine.lanes import Lane, idle_lanes, run_lanes, split_probes
from grader.engine.sandbox_run import HIDDEN_NOTE, Limits, SandboxError, SandboxRun, failed
from grader.engine.seed_gate import SeedGate
from grader.locate import write_files

__all__ = ["HIDDEN_NOTE", "MAX_SUBMISSION_BYTES", "Limits", "SandboxError", "SandboxRun", "idle_lanes", "run_probes",
           "split_probes", "submission_files", "write_files"]

GRADER_DIR = PACKAGE_DIR
MAX_SUBMISSION_BYTES = locate.MAX_SUBMISSION_BYTES


def submission_files(source: Path) -> dict[str, bytes]:
    """The submission's Python files (nothing else is needed), by relative path, up to a size cap: only regular
    files, no hidden folders or caches (:func:`grader.locate.read_submission_files`; what it skips is left out)."""
    return locate.read_submission_files(source)[0]


def _pytest_file(rel: str) -> bool:
    """A student's tests or pytest configuration (``test_exercises.py``, ``conftest.py``): never graded code, so
    never copied into the child."""
    name = rel.rsplit("/", 1)[-1]
    return name == "conftest.py" or name.startswith("test_")


def _copy_in(folder: Path, target: Path) -> Path:
    """A copy of ``folder``'s files (not its subfolders) at ``target``, for children that cannot reach it."""
    target.mkdir()
    for path in folder.iterdir():
        if path.is_file() and not path.is_symlink():
            shutil.copyfile(path, target / path.name)
    return target


def _hand_over(tmp: Path, user: int) -> None:
    """Let the children's ``user`` read (never write) the copies in ``tmp``: the folder and everything in it
    belong to root and the user's group, readable by that group only; no one else may even enter it."""
    os.chown(tmp, 0, user)
    os.chmod(tmp, 0o750)
    for root, folders, files in os.walk(tmp):
        for name in folders:
            os.chown(os.path.join(root, name), 0, user, follow_symlinks=False)
            os.chmod(os.path.join(root, name), 0o750)
        for name in files:
            os.chown(os.path.join(root, name), 0, user, follow_symlinks=False)
            os.chmod(os.path.join(root, name), 0o640)


def _protected_paths(directory: Path) -> list[str]:
    """Folders no allow-list root may contain: the kit, the submission and its siblings, the kit's caches (so
    also the user's cache folder holding them)."""
    return [str(GRADER_DIR.parent), str(directory), str(directory.parent), str(cache_dir.root()),
            tempfile.gettempdir()]


def run_probes(directory: str | Path, probes: list[str] | None = None, limits: Limits = Limits(),
               progress: Callable[[str, str], None] | None = None,
               data: datasets.DataSpec = datasets.DIGITS, require_isolation: bool = False,
               seeds: dict[str, int] | None = None) -> SandboxRun:
    """Probe the submission in ``directory`` in confined children; see the module docstring.

    ``seeds`` gives each hidden probe among ``probes`` its seed (:mod:`grader.engine.secret`). A child gets the seeds
    of its hidden probes (never the secret, never in its command line) through its seed pipe, and only after the public
    probes of every child of the submission have sent their results (:class:`~grader.engine.seed_gate.SeedGate`); every
    child runs its public probes first. What the children report for review from then on is not shown
    (:data:`HIDDEN_NOTE`).

    With ``limits.lanes`` above 1 the probes are split (:func:`split_probes`) between that many children
    running side by side, each with its own home and its own restarts; the observations do not depend on the
    split. ``require_isolation``: raise :class:`SandboxError` unless every confinement layer is available.
    """
    reaping.become_subreaper()
    ends_at = time.monotonic() + limits.time_budget
    layers = confine.available()
    if require_isolation and not layers.complete:
        raise SandboxError(f"full isolation was required, but this machine offers only: {layers.describe()}")
    if (limits.require_containment or seeds) and not limits.allow_unconfined and not layers.contained:
        raise SandboxError(
            "neither Landlock nor a dedicated unprivileged user is available to keep the secret, the solutions and "
            f"other submissions out of the graded code's reach (this machine offers: {layers.describe()}); run the "
            "grader as root (the children then run as users of their own) or on a kernel with Landlock, or pass "
            "--allow-unconfined to grade anyway")
    probes = list(rubric.PROBES) if probes is None else list(probes)
    in_order = sorted(probes, key=lambda p: rubric.ALL_PROBES[p].hidden)  # every child: public probes first
    run = SandboxRun({}, {}, [], layers, limits.budget_text())
    try:
        _probe_submission(run, Path(directory).resolve(), probes, in_order, layers, limits, progress, data, seeds,
                          ends_at)
    except SandboxError:
        raise
    except Exception as exc:  # whatever this submission's files or its children did: its own row, never the batch's end
        message = f"the grader could not finish grading this submission ({type(exc).__name__}: {exc})"
        run.notes.append(message)
        for p in probes:
            run.observations.setdefault(p, failed(f"not checked: {message}"))
    run.observations = {p: run.observations[p] for p in probes}
    return run


def _probe_submission(run: SandboxRun, source: Path, probes: list[str], in_order: list[str], layers: confine.Layers,
                      limits: Limits, progress, data: datasets.DataSpec, seeds, ends_at: float) -> None:
    """The part of :func:`run_probes` that reads the submission and runs its children, filling ``run``; the
    submission's temporary folder and what its user left in the shared folders are removed, whatever happened."""
    budget = wire.Budget(wire.DEFAULT_BUDGET)
    submission = locate.read_submission(source)  # a file skipped: a note for review; an exercise module, its message
    run.notes += submission.problems
    files = {rel: text for rel, text in submission.files.items() if not _pytest_file(rel)}
    refused = {} if limits.accept_code else code_policy.check_files(files)
    for rel, violations in refused.items():
        files[rel] = code_policy.refusing_module(code_policy.refusal(rel, violations))
        if rel not in locate.exercise_files():  # an exercise module's functions say it themselves
            run.notes.append(code_policy.refusal(rel, violations))
    not_run = {**submission.module_problems(), **{rel.removesuffix(".py"): code_policy.refusal(rel, v)
                                                  for rel, v in refused.items() if rel in locate.exercise_files()}}
    # A probe whose functions all live in files that were refused or not read needs no child: the probing engine
    # records why, as the child would (no student code runs for it).
    errors = {f: not_run[m] for f, m in rubric.STUDENT_FUNCTIONS.items() if m in not_run}
    settled = [p for p in in_order if all(f in errors for f in rubric.ALL_PROBES[p].uses)]
    run.observations.update(probing.observe({}, errors, settled, data, seeds))
    in_order = [p for p in in_order if p not in settled]
    user = confine.new_child_user() if layers.user and in_order else None
    tmp = Path(tempfile.mkdtemp(prefix="grade-", dir=_temp_parent(user))) if in_order else None
    try:
        if tmp is not None:
            _probe_in(tmp, run, files, not_run, source, in_order, user, layers, limits, data, budget, progress, seeds,
                      ends_at)
    finally:
        problems = [cleanup.remove_tree(tmp)] if tmp is not None else []
        if user is not None:
            problems += reaping.sweep_shared_folders(user)
        run.notes += [f"cleaning up after the submission: {p}" for p in problems if p]


def _probe_in(tmp: Path, run: SandboxRun, files: dict[str, bytes], not_run: dict[str, str], source: Path,
              in_order: list[str], user: int | None, layers: confine.Layers, limits: Limits,
              data: datasets.DataSpec, budget, progress, seeds, ends_at: float) -> None:
    """The part of :func:`run_probes` inside the submission's temporary folder ``tmp``: lay out the copies, run the
    lanes, gather their observations and findings into ``run``."""
    write_files(files, tmp / "submission")
    shutil.copytree(GRADER_DIR, tmp / "lib" / "grader", ignore=shutil.ignore_patterns("__pycache__"))
    cache = compile_cache.ready_directory()
    if user is not None and cache is not None and not confine.open_to_others(compile_cache.share(cache)):
        cache = _copy_in(cache, tmp / "cache")  # under a private folder: the children read a copy
    if data.name == "digits" and cache is not None and (cache / datasets.DIGITS_FILE).is_file():
        data = dataclasses.replace(data, data_dir=str(cache))  # the saved split: no scikit-learn import
    elif user is not None and data.data_dir and not confine.open_to_others(data.data_dir):
        data = dataclasses.replace(data, data_dir=str(_copy_in(Path(data.data_dir), tmp / "data")))
    read = [str(tmp / "submission"), str(tmp / "lib")] + ([data.data_dir] if data.data_dir else [])
    if cache is not None and str(cache) not in read:
        read.append(str(cache))
    if user is not None:
        _hand_over(tmp, user)
    groups = split_probes(in_order, limits.lanes)
    lane = Lane(tmp, layers, read, _protected_paths(source), limits, data, budget, cache, progress,
                dict(seeds or {}), user, SeedGate(len(groups)), ends_at, not_run)
    for part in run_lanes(lane, groups):
        run.observations.update(part.observations)
        run.add_findings(part.shortcuts, part.notes)


def _temp_parent(user: int | None) -> str | None:
    """Where the submission's temporary folder goes: the usual place, unless the children's own ``user`` could
    not pass through it (a private ``TMPDIR``), then the system's ``/tmp``."""
    default = Path(tempfile.gettempdir()).resolve()
    if user is None or all(folder.stat().st_mode & 0o001 for folder in (default, *default.parents)):
        return None
    return "/tmp"

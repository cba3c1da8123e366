"""Ending a child and cleaning up after it: its whole process tree (the namespace's init, its process group, and
without a PID namespace every descendant that escaped the session, re-parented to this process as the children's
subreaper) is killed and reaped; what the children's own user left in the folders every user may write is removed.
The children are started through :func:`start` so that a sweep never takes a live child for an escaped one.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from grader.engine import cleanup

_registry_lock = threading.Lock()
_live_children: set[int] = set()
_subreaper = False


def become_subreaper() -> None:
    """Make this process a child subreaper (Linux): what escapes a child's session is re-parented here, where
    :func:`end_tree` finds it."""
    global _subreaper
    if _subreaper or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_CHILD_SUBREAPER = 36
        _subreaper = libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except OSError:
        _subreaper = False


def _orphans() -> list[int]:
    """Direct children of this process that no sandbox started: escaped descendants re-parented to us."""
    me, found = os.getpid(), []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == me and int(entry) not in _live_children:
            found.append(int(entry))
    return found


def _children_of(pid: int) -> list[int]:
    """The direct children of ``pid`` (Linux), e.g. the init that ``unshare --fork`` started."""
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            found += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    except OSError:
        pass
    return found


def end_tree(proc: subprocess.Popen, sweep: bool = True, sweep_seconds: float = 10.0) -> None:
    """Kill the child's process group, then (``sweep``) every escaped descendant, and reap them.

    Inside a PID namespace the kernel ends every process the child left when the child (its init) dies, and
    nothing can escape to this process, so there is nothing to sweep (and this process's other children, a
    Dask worker's or a notebook kernel, are left alone). Without one, escaped processes are re-parented to
    this subreaper, and the sweep goes on until a check finds none left (or ``sweep_seconds`` pass, for a
    tree that forks faster than it can be ended)."""
    for pid in _children_of(proc.pid):  # the namespace's init (it may have left our process group): ends it all
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
    with _registry_lock:
        _live_children.discard(proc.pid)
        if not sweep or not sys.platform.startswith("linux"):
            return
        deadline, quiet = time.monotonic() + sweep_seconds, 0
        while quiet < 2 and time.monotonic() < deadline:
            orphans = _orphans()
            quiet = 0 if orphans else quiet + 1
            for pid in orphans:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            for pid in orphans:
                try:
                    os.waitpid(pid, 0)
                except ChildProcessError:
                    pass
            if not orphans:
                time.sleep(0.01)



def start(popen: Callable[[], subprocess.Popen]) -> subprocess.Popen:
    """``popen()``, the child it starts registered as one of ours (a sweep leaves it alone) before any sweep looks."""
    with _registry_lock:
        proc = popen()
        _live_children.add(proc.pid)
    return proc


SHARED_FOLDERS = ("/tmp", "/var/tmp", "/dev/shm")  # writable by every user: the children's user too, without Landlock


def sweep_shared_folders(user: int) -> list[str]:
    """Remove what the children's ``user`` left in the folders every user may write (without Landlock and a mount
    namespace nothing stops it writing there): nothing it wrote outlives its grading, nor reaches a later run.
    The user is the submission's alone, so everything it owns there is its own. Returns what could not be removed."""
    problems = []
    for folder in SHARED_FOLDERS:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.stat(follow_symlinks=False).st_uid == user:
                    problems.append(cleanup.remove_tree(entry.path))
            except OSError:
                pass
    return [p for p in problems if p]


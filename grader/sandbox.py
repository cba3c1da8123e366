"""Run the probes on a submission in a sandboxed child process.

The child gets a fresh temporary directory holding a copy of the submission's ``.py`` files and a copy of
the grader package (not the kit's ``solutions/``), a scrubbed environment, stdin from ``/dev/null``, its own
session, and resource limits: address space, CPU time, and the size of any file it writes (its output
included). It reports through a pipe the parent opened (see :mod:`grader.wire`).

Wall time is limited per probe: when a probe (or the import of a module) overruns, or the child dies, the
parent ends the whole process tree, records the failure for that probe only, and starts a new child for the
probes that remain. The parent is a child subreaper, so processes that escape the session (``setsid``,
double fork) are re-parented to it and ended too.
"""

from __future__ import annotations

import ctypes
import dataclasses
import json
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

from . import datasets, rubric, wire
from .checks.common import Observations

GRADER_DIR = Path(__file__).resolve().parent
PASS_THROUGH_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
MAX_SUBMISSION_BYTES = 20 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class Limits:
    """Resource limits of one submission's child process."""

    probe_seconds: float = 60.0       # wall time of one probe: a function's checks, or one training task
    import_seconds: float = 60.0      # wall time of importing one module (and of starting the child)
    memory_bytes: int = 8 << 30       # address space (JAX on the CPU runs in 8 GiB)
    cpu_seconds: int = 3600           # CPU time of one child
    output_bytes: int = 16 << 20      # the largest file the child may write, its stdout/stderr included


@dataclasses.dataclass
class SandboxRun:
    """What came back: observations per probe, load errors per function, the child's (truncated) output."""

    observations: dict[str, Observations]
    load_errors: dict[str, str]
    output: str
    restarts: int


_registry_lock = threading.Lock()
_live_children: set[int] = set()
_subreaper = False


def _become_subreaper() -> None:
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


def _end_tree(proc: subprocess.Popen) -> None:
    """Kill the child's process group, then every escaped descendant, and reap them."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
    with _registry_lock:
        _live_children.discard(proc.pid)
        if not sys.platform.startswith("linux"):
            return
        for _ in range(50):
            orphans = _orphans()
            if not orphans:
                break
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


def _copy_submission(source: Path, target: Path) -> None:
    """Copy the submission's Python files (nothing else is needed), up to a size cap."""
    total = 0
    target.mkdir(parents=True)
    for path in sorted(source.rglob("*.py")):
        rel = path.relative_to(source)
        if any(part.startswith(".") or part == "__pycache__" for part in rel.parts) or path.is_symlink():
            continue
        total += path.stat().st_size
        if total > MAX_SUBMISSION_BYTES:
            break
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target / rel)


def _environment(home: Path) -> dict[str, str]:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "TMPDIR": str(home), "LANG": "C.UTF-8",
           "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1", "JAX_PLATFORMS": "cpu",
           "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
    env.update({k: os.environ[k] for k in PASS_THROUGH_ENV if k in os.environ})
    return env


def _rlimits(limits: Limits) -> list[tuple[int, int, str]]:
    return [(resource.RLIMIT_AS, limits.memory_bytes, "--as"), (resource.RLIMIT_CPU, limits.cpu_seconds, "--cpu"),
            (resource.RLIMIT_FSIZE, limits.output_bytes, "--fsize"), (resource.RLIMIT_CORE, 0, "--core")]


def _limited(command: list[str], limits: Limits) -> tuple[list[str], Callable[[], None] | None]:
    """Apply the limits with util-linux's ``prlimit`` where there is one: running Python between fork and exec
    (``preexec_fn``) in a process with JAX's threads can deadlock. Without it, fall back to ``preexec_fn``."""
    prlimit = shutil.which("prlimit")
    if prlimit:
        return [prlimit, *(f"{flag}={value}" for _, value, flag in _rlimits(limits)), "--", *command], None

    def preexec() -> None:
        for kind, value, _ in _rlimits(limits):
            resource.setrlimit(kind, (value, value))
    return command, preexec


def _describe_death(returncode: int | None) -> str:
    if returncode is None:
        return "stopped"
    if returncode < 0:
        sig = signal.Signals(-returncode).name if -returncode in signal.Signals._value2member_map_ else -returncode
        hint = " (out of memory?)" if sig in ("SIGSEGV", "SIGABRT", "SIGBUS") else ""
        return f"was killed by {sig}{hint}"
    return f"exited with status {returncode} (os._exit, or a crash)"


def run_probes(directory: str | Path, probes: list[str] | None = None, limits: Limits = Limits(),
               progress: Callable[[str, str], None] | None = None,
               data: datasets.DataSpec = datasets.DIGITS) -> SandboxRun:
    """Probe the submission in ``directory`` in sandboxed children; see the module docstring."""
    _become_subreaper()
    probes = list(rubric.PROBES) if probes is None else list(probes)
    observations: dict[str, Observations] = {}
    broken: dict[str, str] = {}
    load_errors: dict[str, str] = {}
    output_parts: list[str] = []
    restarts = -1
    with tempfile.TemporaryDirectory(prefix="grade-") as tmp:
        tmp = Path(tmp)
        _copy_submission(Path(directory).resolve(), tmp / "submission")
        shutil.copytree(GRADER_DIR, tmp / "lib" / "grader", ignore=shutil.ignore_patterns("__pycache__"))
        remaining = list(probes)
        while remaining:
            restarts += 1
            before = (len(observations), len(broken))
            loaded, out = _one_child(tmp, remaining, broken, limits, observations, progress, restarts, data)
            output_parts.append(out)
            if loaded is not None:
                load_errors = loaded
            remaining = [p for p in remaining if p not in observations]
            if remaining and (len(observations), len(broken)) == before:  # no progress: do not retry forever
                for p in remaining:
                    observations[p] = _failed(f"the grading process stopped before checking {p}")
                break
    return SandboxRun(observations, load_errors, "".join(output_parts)[-20000:], restarts)


def _one_child(tmp: Path, probes: list[str], broken: dict[str, str], limits: Limits,
               observations: dict[str, Observations], progress, attempt: int, data: datasets.DataSpec):
    """Run one child until it finishes, dies or overruns; record what it reported. Returns (load errors, output)."""
    home = tmp / f"home{attempt}"
    home.mkdir()
    boot = (f"import sys; sys.path.insert(0, {str(tmp / 'lib')!r}); "
            "from grader.child import main; main(sys.argv[1:])")
    read_fd, write_fd = os.pipe()
    out_path = tmp / f"output{attempt}.txt"
    command, preexec = _limited([sys.executable, "-I", "-c", boot, str(write_fd), str(tmp / "submission"),
                                 ",".join(probes), json.dumps(broken), data.to_json()], limits)
    with open(out_path, "wb") as out_file, _registry_lock:
        proc = subprocess.Popen(
            command, cwd=tmp / "submission", env=_environment(home), stdin=subprocess.DEVNULL, stdout=out_file,
            stderr=subprocess.STDOUT, pass_fds=(write_fd,), start_new_session=True, preexec_fn=preexec)
        _live_children.add(proc.pid)
    os.close(write_fd)
    reader = wire.FrameReader()
    sandbox_path = f"{tmp / 'submission'}/"  # messages name files relative to the submission
    stage, current = "import", None      # what the child is doing now
    deadline = time.monotonic() + limits.import_seconds
    loaded = None
    try:
        while True:
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                _fail_current(stage, current, f"did not finish within {_budget_text(stage, limits)} "
                              "(an endless loop?)", broken, observations)
                break
            ready, _, _ = select.select([read_fd], [], [], min(timeout, 0.25))
            if ready:
                data = os.read(read_fd, 1 << 20)
            elif proc.poll() is not None:
                # The child is gone, though a descendant may still hold the pipe open: take what is there.
                data = os.read(read_fd, 1 << 20) if select.select([read_fd], [], [], 0)[0] else b""
            else:
                continue
            if not data:  # the child closed the pipe or died: finished, or killed
                proc.wait(timeout=30)
                if stage != "done":
                    _fail_current(stage, current, f"stopped: the grading process {_describe_death(proc.returncode)}",
                                  broken, observations)
                break
            try:
                frames = reader.feed(data)
            except wire.WireError as exc:
                _fail_current(stage, current, f"sent an unreadable result ({exc})", broken, observations)
                break
            for kind, payload in frames:
                if kind == "I":
                    stage, current = "import", payload.decode(errors="replace")
                    deadline = time.monotonic() + limits.import_seconds
                elif kind == "L":
                    loaded = {k: str(v).replace(sandbox_path, "") for k, v in json.loads(payload.decode()).items()}
                    stage, current = "loaded", None
                elif kind == "S":
                    stage, current = "probe", payload.decode(errors="replace")
                    deadline = time.monotonic() + limits.probe_seconds
                    if progress:
                        progress("probe", current)
                elif kind == "R":
                    try:
                        name, obs = wire.decode_observations(payload)
                        obs.errors = {k: v.replace(sandbox_path, "") for k, v in obs.errors.items()}
                    except wire.WireError as exc:
                        obs, name = Observations(), current
                        obs.fail_all(f"the result of {current} could not be read ({exc})")
                    observations[name] = obs
                    stage = "done" if all(p in observations for p in probes) else "between"
    finally:
        os.close(read_fd)
        _end_tree(proc)
    text = out_path.read_bytes()[:100_000].decode(errors="replace")
    if loaded is None and stage == "import" and current is None:
        # died before importing anything: nothing more to learn by retrying
        for p in probes:
            observations.setdefault(p, _failed(f"the grading process {_describe_death(proc.returncode)} "
                                               f"before loading the submission: {text[-500:]}"))
    return loaded, text


def _budget_text(stage: str, limits: Limits) -> str:
    seconds = limits.import_seconds if stage == "import" else limits.probe_seconds
    return f"{seconds:g} s"


def _failed(message: str) -> Observations:
    obs = Observations()
    obs.fail_all(message)
    return obs


def _fail_current(stage: str, current: str | None, message: str, broken: dict[str, str],
                  observations: dict[str, Observations]) -> None:
    if stage == "import" and current:
        broken[current] = f"importing {current}.py {message}"
    elif stage == "probe" and current:
        what = f"training {current}" if current not in rubric.STUDENT_FUNCTIONS else f"checking {current}"
        observations[current] = _failed(f"{what} {message}")

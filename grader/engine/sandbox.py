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
every probe not yet run fail with a message saying so. The parent is a child subreaper, so processes that escape the session (``setsid``,
double fork) are re-parented to it and ended too.
"""

from __future__ import annotations

import concurrent.futures
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

from grader import PACKAGE_DIR
from grader.engine import cache_dir, cleanup, code_policy, compile_cache, confine, probing, wire
from grader.course_file import DEFAULT_TIME_BUDGET, DEFAULT_TIME_LIMIT

from grader.data import datasets

from grader import course_file as course, locate, rubric
from grader.locate import write_files
from grader.checks.common import Observations

GRADER_DIR = PACKAGE_DIR
PASS_THROUGH_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
MAX_SUBMISSION_BYTES = locate.MAX_SUBMISSION_BYTES
# What stands in a report for the review notes the code raised once the hidden probes' seeds were out: a note names
# a line and a file name the code chooses, so it could carry the hidden inputs into the student's report.
HIDDEN_NOTE = ("the code reached for something noted for review while its hidden checks ran (not shown: it could "
               "reveal the hidden inputs)")


@dataclasses.dataclass(frozen=True)
class Limits:
    """Resource limits of one submission's child process."""

    probe_seconds: float = DEFAULT_TIME_LIMIT   # wall time of one probe: a function's checks, or one training task
    import_seconds: float = DEFAULT_TIME_LIMIT  # wall time of importing one module (and of starting the child)
    memory_bytes: int = 8 << 30                 # address space (JAX on the CPU runs in 8 GiB)
    cpu_seconds: int = 3600                     # CPU time of one child
    output_bytes: int = 16 << 20                # the largest file the child may write, its stdout/stderr included
    lanes: int = 1                              # children probing this submission side by side (see idle_lanes)
    require_containment: bool = False           # refuse to run without a layer that keeps private files out of reach
    allow_unconfined: bool = False              # the instructor's explicit leave to grade a secret's probes without one
    accept_code: bool = False                   # grade code beyond the policy for submitted code as it is (read by the instructor)
    time_budget: float = DEFAULT_TIME_BUDGET    # wall time of the whole submission: every child, import and probe
    home_bytes: int = 256 << 20                 # the child's writable home, a tmpfs of this size (with namespaces)
    home_files: int = 8192                      # ... and of this many files and folders
    processes: int = 1024                       # processes and threads of one submission (with the user layer)

    def budget_text(self) -> str:
        """How long a submission may take, for a report: 'time budget 600 s (60 s per import, 60 s per check)'."""
        return (f"time budget {self.time_budget:g} s ({self.import_seconds:g} s for the imports, "
                f"{self.probe_seconds:g} s per check)")


@dataclasses.dataclass
class SandboxRun:
    """What came back: observations per probe, the forbidden routines the tripwire saw each student function
    call, notes for an instructor's review, and the confinement layers that were in force."""

    observations: dict[str, Observations]
    shortcuts: dict[str, list[str]]
    notes: list[str]
    layers: confine.Layers
    limits: str = ""          # the time limits it ran under, for a report (:meth:`Limits.budget_text`)

    def add_findings(self, shortcuts: dict[str, list[str]], notes: list[str]) -> None:
        """Add another child's tripwire hits and review notes to this run's, without repeats."""
        for function, names in shortcuts.items():
            mine = self.shortcuts.setdefault(function, [])
            mine += [n for n in names if n not in mine]
        self.notes += [n for n in notes if n not in self.notes]


class SandboxError(RuntimeError):
    """The sandbox itself could not run (not the student's fault): the grader reports it and stops."""


class _Protocol:
    """What the parent accepts from one child: ``(I name)* L T (S name R T)* [H (S name R T)*]`` for the probes it
    asked, in order; ``H`` (the child asks for the hidden probes' seeds) once, only when the next probe is hidden.

    Anything else — a frame of an unknown kind, a probe not asked for or out of turn, a second ``L`` or ``H`` —
    is a :class:`wire.WireError`."""

    def __init__(self, probes: list[str]):
        self.pending = list(probes)
        self.state = "import"      # import → loaded → (probe → between)*
        self.seeds_sent = False

    def accept(self, kind: str, payload: bytes) -> str | None:
        """Check a frame against the protocol; return the probe name it concerns, if any."""
        if kind == "I" and self.state == "import":
            return None
        if kind == "L" and self.state == "import":
            self.state = "loaded"
            return None
        if kind == "T" and self.state in ("loaded", "between"):
            return None
        if kind == "H" and self.state in ("loaded", "between") and not self.seeds_sent and self.pending \
                and rubric.ALL_PROBES[self.pending[0]].hidden:
            self.seeds_sent = True
            return None
        if kind == "S" and self.state in ("loaded", "between"):
            name = payload.decode(errors="replace")
            if not self.pending or name != self.pending[0]:
                raise wire.WireError(f"a probe out of turn ({name!r})")
            self.state = "probe"
            return name
        if kind == "R" and self.state == "probe":
            self.state = "between"
            return self.pending.pop(0)
        raise wire.WireError(f"a frame out of order ({kind!r} while {self.state})")


class _SeedGate:
    """When the hidden probes' seeds may leave the parent: once every lane of the submission has the results of all
    its public probes (a lane says so when its child asks for the seeds, or when it ends). The children of one
    submission run side by side as one user and, where no Landlock rule stops them, can read each other's files:
    no child's code may meet a public input while another child's code can know a hidden one."""

    def __init__(self, lanes: int):
        self._waiting = set(range(lanes))
        self._lock = threading.Lock()
        self._open = threading.Event()

    def public_done(self, lane: int) -> None:
        with self._lock:
            self._waiting.discard(lane)
            if not self._waiting:
                self._open.set()

    def wait(self) -> None:
        self._open.wait()

    @property
    def open(self) -> bool:
        """Whether seeds may be out: what a child's code does from now on may depend on a hidden input."""
        return self._open.is_set()


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


def _children_of(pid: int) -> list[int]:
    """The direct children of ``pid`` (Linux), e.g. the init that ``unshare --fork`` started."""
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            found += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    except OSError:
        pass
    return found


def _end_tree(proc: subprocess.Popen, sweep: bool = True, sweep_seconds: float = 10.0) -> None:
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


def _environment(home: Path, cache: Path | None) -> dict[str, str]:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "TMPDIR": str(home), "LANG": "C.UTF-8",
           "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1", "JAX_PLATFORMS": "cpu",
           "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
    env.update({k: os.environ[k] for k in PASS_THROUGH_ENV if k in os.environ})
    if cache is not None:  # read-only to the child (its Landlock rule): trusted code filled it
        env.update(compile_cache.settings(cache))
    return env


def _rlimits(limits: Limits, own_user: bool) -> list[tuple[int, int, str]]:
    """The child's resource limits. The process count (threads included) counts per user, so it is set only when
    the submission has a user of its own: for any other user it would count their unrelated processes too."""
    out = [(resource.RLIMIT_AS, limits.memory_bytes, "--as"), (resource.RLIMIT_CPU, limits.cpu_seconds, "--cpu"),
           (resource.RLIMIT_FSIZE, limits.output_bytes, "--fsize"), (resource.RLIMIT_CORE, 0, "--core")]
    if own_user:
        out.append((resource.RLIMIT_NPROC, limits.processes, "--nproc"))
    return out


def _limited(command: list[str], limits: Limits, own_user: bool) -> tuple[list[str], Callable[[], None] | None]:
    """Apply the limits with util-linux's ``prlimit`` where there is one: running Python between fork and exec
    (``preexec_fn``) in a process with JAX's threads can deadlock. Without it, fall back to ``preexec_fn``."""
    prlimit = shutil.which("prlimit")
    if prlimit:
        return [prlimit, *(f"{flag}={value}" for _, value, flag in _rlimits(limits, own_user)), "--", *command], None

    def preexec() -> None:
        for kind, value, _ in _rlimits(limits, own_user):
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


def _protected_paths(directory: Path) -> list[str]:
    """Folders no allow-list root may contain: the kit, the submission and its siblings, the kit's caches (so
    also the user's cache folder holding them)."""
    return [str(GRADER_DIR.parent), str(directory), str(directory.parent), str(cache_dir.root()),
            tempfile.gettempdir()]


def idle_lanes(most: int = 2) -> int:
    """How many children one submission may use side by side now: up to ``most``, one per core that other
    runnable processes leave free (at least one). A lone ``grade`` on an idle 2-core machine gets 2; a batch,
    a busy machine or a single core gets 1. "Now" is the kernel's count of runnable tasks, sampled a few times
    over 30 ms (the load averages lag by a minute: a student's previous run would still count)."""
    cores = os.cpu_count() or 1
    samples = []
    for _ in range(3):
        try:
            running = int(Path("/proc/loadavg").read_text().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            running = 1 + round(os.getloadavg()[0]) if hasattr(os, "getloadavg") else cores + 1
        samples.append(running - 1)  # this process is one of them
        time.sleep(0.01)
    busy = sorted(samples)[1]
    return max(1, min(most, cores - busy))


def split_probes(probes: list[str], lanes: int) -> list[list[str]]:
    """``probes`` in at most ``lanes`` groups of about equal cost (:attr:`rubric.Probe.seconds`), longest first
    to the least loaded group; each group keeps the rubric's order."""
    groups: list[list[str]] = [[] for _ in range(max(1, min(lanes, len(probes))))]
    load = [0.0] * len(groups)
    for name in sorted(probes, key=lambda p: -rubric.ALL_PROBES[p].seconds):
        k = load.index(min(load))
        groups[k].append(name)
        load[k] += rubric.ALL_PROBES[name].seconds
    return [[p for p in probes if p in group] for group in groups if group]


def run_probes(directory: str | Path, probes: list[str] | None = None, limits: Limits = Limits(),
               progress: Callable[[str, str], None] | None = None,
               data: datasets.DataSpec = datasets.DIGITS, require_isolation: bool = False,
               seeds: dict[str, int] | None = None) -> SandboxRun:
    """Probe the submission in ``directory`` in confined children; see the module docstring.

    ``seeds`` gives each hidden probe among ``probes`` its seed (:mod:`grader.engine.secret`). A child gets the seeds
    of its hidden probes (never the secret, never in its command line) through its seed pipe, and only after the
    public probes of every child of the submission have sent their results (:class:`_SeedGate`); every child runs its
    public probes first. What the children report for review from then on is not shown (:data:`HIDDEN_NOTE`).

    With ``limits.lanes`` above 1 the probes are split (:func:`split_probes`) between that many children
    running side by side, each with its own home and its own restarts; the observations do not depend on the
    split. ``require_isolation``: raise :class:`SandboxError` unless every confinement layer is available.
    """
    _become_subreaper()
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
            run.observations.setdefault(p, _failed(f"not checked: {message}"))
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
            problems += _sweep_shared_folders(user)
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
    lane = _Lane(tmp, layers, read, _protected_paths(source), limits, data, budget, cache, progress,
                 dict(seeds or {}), user, _SeedGate(len(groups)), ends_at, not_run)
    if len(groups) == 1:
        parts = [lane.run(0, groups[0])]
    else:
        with concurrent.futures.ThreadPoolExecutor(len(groups), thread_name_prefix="lane") as pool:
            parts = list(pool.map(lane.run, range(len(groups)), groups))
    for part in parts:
        run.observations.update(part.observations)
        run.add_findings(part.shortcuts, part.notes)


SHARED_FOLDERS = ("/tmp", "/var/tmp", "/dev/shm")  # writable by every user: the children's user too, without Landlock


def _temp_parent(user: int | None) -> str | None:
    """Where the submission's temporary folder goes: the usual place, unless the children's own ``user`` could
    not pass through it (a private ``TMPDIR``), then the system's ``/tmp``."""
    default = Path(tempfile.gettempdir()).resolve()
    if user is None or all(folder.stat().st_mode & 0o001 for folder in (default, *default.parents)):
        return None
    return "/tmp"


def _sweep_shared_folders(user: int) -> list[str]:
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


@dataclasses.dataclass(frozen=True)
class _Lane:
    """What every child of one submission shares; :meth:`run` takes one group of probes through children."""

    tmp: Path
    layers: confine.Layers
    read: list[str]
    protected: list[str]
    limits: Limits
    data: datasets.DataSpec
    budget: wire.Budget
    cache: Path | None
    progress: Callable[[str, str], None] | None
    seeds: dict[str, int]
    user: int | None
    gate: _SeedGate
    ends_at: float                                                      # time.monotonic() when the time budget runs out
    skipped: dict[str, str] = dataclasses.field(default_factory=dict)  # module → why its file was not read

    def run(self, lane: int, probes: list[str]) -> SandboxRun:
        """Children one after another until every probe of ``probes`` has its observations: a child that dies
        or overruns costs the probe it was on, and the next child takes the rest."""
        try:
            return self._run(lane, probes)
        finally:
            self.gate.public_done(lane)  # a lane that never asked for seeds, or gave up: it runs no more probes

    def _run(self, lane: int, probes: list[str]) -> SandboxRun:
        out = SandboxRun({}, {}, [], self.layers)
        broken: dict[str, str] = dict(self.skipped)
        remaining, attempt = list(probes), 0
        while remaining:
            if time.monotonic() >= self.ends_at:
                for p in remaining:
                    out.observations[p] = _failed(f"not checked: {_out_of_budget(self.limits)}")
                break
            before = (len(out.observations), len(broken))
            home = self.tmp / f"home{lane}-{attempt}"
            home.mkdir(mode=0o700)
            if self.user is not None:
                os.chown(home, self.user, self.user)
            policy = confine.make_policy(self.layers, self.read, [str(home)], self.protected,
                                         self.limits.home_bytes, self.limits.home_files)
            child = _Child(self.tmp, home, f"{lane}-{attempt}", policy, self.limits, self.data, self.budget,
                           self.cache, self.seeds, self.user, self.gate, lane, out.notes, self.ends_at)
            child.run(remaining, broken, out.observations, self.progress)
            out.add_findings(child.shortcuts, child.notes)
            remaining = [p for p in remaining if p not in out.observations]
            attempt += 1
            if remaining and (len(out.observations), len(broken)) == before:  # no progress: do not retry forever
                for p in remaining:
                    out.observations[p] = _failed(f"the grading process stopped before checking {p}")
                break
        return out


class _Child:
    """One confined child: started, read until it finishes, dies or overruns, then ended with its tree."""

    def __init__(self, tmp: Path, home: Path, attempt: str, policy: confine.Policy, limits: Limits,
                 data: datasets.DataSpec, budget: wire.Budget, cache: Path | None, seeds: dict[str, int],
                 user: int | None = None, gate: _SeedGate | None = None, lane: int = 0,
                 known_notes: list[str] = (), ends_at: float = float("inf")):
        self.tmp, self.home, self.attempt, self.policy, self.user = tmp, home, attempt, policy, user
        self.limits, self.data, self.budget, self.cache, self.seeds = limits, data, budget, cache, seeds
        self.gate, self.lane, self.ends_at = gate or _SeedGate(1), lane, ends_at
        self.shortcuts: dict[str, list[str]] = {}
        self.notes: list[str] = []
        self.seed_write: int | None = None
        self.known_notes = list(known_notes)  # the notes of the lane's earlier children
        # Once seeds may be out (the gate is open): the notes accepted before; every later note is what the code did
        # when it could know a hidden input.
        self.before_seeds: list[str] | None = None

    def _start(self, probes: list[str], broken: dict[str, str]):
        # The boot binds no name in __main__: nothing there leads student code to the driver.
        boot = (f"import sys; sys.path.insert(0, {str(self.tmp / 'lib')!r}); "
                "__import__('grader.engine.child', fromlist=['main']).main(sys.argv[1:])")
        read_fd, write_fd = os.pipe()
        key_read, key_write = os.pipe()
        seed_read, self.seed_write = os.pipe()
        os.set_inheritable(self.seed_write, False)
        command = [sys.executable, "-I", "-c", boot, str(write_fd), str(key_read), str(seed_read),
                   str(self.tmp / "submission"), ",".join(probes), json.dumps(broken), self.data.to_json(),
                   self.policy.to_json(), course.current().to_json()]
        command, preexec = _limited(confine.wrap_command(command, self.policy.layers), self.limits,
                                    self.user is not None)
        self.out_path = self.tmp / f"output{self.attempt}.txt"
        with open(self.out_path, "wb") as out_file, _registry_lock:
            proc = subprocess.Popen(
                command, cwd=self.tmp / "submission", env=_environment(self.home, self.cache), stdin=subprocess.DEVNULL,
                stdout=out_file, stderr=subprocess.STDOUT, pass_fds=(write_fd, key_read, seed_read), start_new_session=True,
                preexec_fn=preexec, **confine.as_user(self.user))
            _live_children.add(proc.pid)
        os.close(write_fd)
        os.close(key_read)
        os.close(seed_read)
        key = wire.new_key()
        try:
            wire.send_key(key_write, key)
        except OSError:  # the child died before reading it: its end of stream reports the death
            pass
        return proc, read_fd, key

    def run(self, probes: list[str], broken: dict[str, str], observations: dict[str, Observations],
            progress) -> None:
        proc, read_fd, key = self._start(probes, broken)
        reader, protocol = wire.FrameReader(key), _Protocol(probes)
        sandbox_path = f"{self.tmp / 'submission'}/"  # messages name files relative to the submission
        stage, current = "import", None      # what the child is doing now
        deadline = time.monotonic() + self.limits.import_seconds
        loaded = False
        try:
            while True:
                timeout = min(deadline, self.ends_at) - time.monotonic()
                if timeout <= 0:
                    if deadline <= self.ends_at:
                        _fail_current(stage, current, f"did not finish within {_budget_text(stage, self.limits)} "
                                      "(an endless loop?)", broken, observations)
                    else:  # the submission's budget: what this child was doing, and everything it had left
                        _fail_current(stage, current, f"was stopped: {_out_of_budget(self.limits)}", broken,
                                      observations)
                        for p in probes:
                            observations.setdefault(p, _failed(f"not checked: {_out_of_budget(self.limits)}"))
                    break
                ready, _, _ = select.select([read_fd], [], [], min(timeout, 0.25))
                if ready:
                    chunk = os.read(read_fd, 1 << 20)
                elif proc.poll() is not None:
                    # The child is gone, though a descendant may still hold the pipe open: take what is there.
                    chunk = os.read(read_fd, 1 << 20) if select.select([read_fd], [], [], 0)[0] else b""
                else:
                    continue
                if not chunk:  # the child closed the pipe or died: finished, or killed
                    proc.wait(timeout=30)
                    if proc.returncode == confine.EXIT_CONFINEMENT and not loaded:
                        raise SandboxError("the sandbox could not confine the grading process: "
                                           + self.out_path.read_bytes()[-2000:].decode(errors="replace"))
                    if stage != "done":
                        _fail_current(stage, current, f"stopped: the grading process "
                                      f"{_describe_death(proc.returncode)}", broken, observations)
                    break
                try:
                    for kind, payload in reader.feed(chunk):
                        name = protocol.accept(kind, payload)
                        stage, current, deadline = self._handle(kind, payload, name, stage, current, deadline,
                                                                sandbox_path, observations, probes, progress)
                        loaded = loaded or kind == "L"
                except wire.WireError as exc:
                    message = f"sent a result the grader did not accept ({exc})"
                    self.notes.append(f"the grading process {message}")
                    if stage in ("import", "probe") and current:
                        _fail_current(stage, current, message, broken, observations)
                    else:
                        for p in probes:
                            observations.setdefault(p, _failed(f"not checked: the grading process {message}"))
                    break
        finally:
            os.close(read_fd)
            if self.seed_write is not None:
                os.close(self.seed_write)
                self.seed_write = None
            _end_tree(proc, sweep=not self.policy.layers.namespaces)
        if not loaded and stage == "import" and current is None:
            # died before importing anything: nothing more to learn by retrying
            text = self.out_path.read_bytes()[-2000:].decode(errors="replace")
            for p in probes:
                observations.setdefault(p, _failed(f"the grading process {_describe_death(proc.returncode)} "
                                                   f"before loading the submission: {text[-500:]}"))

    def _seeds_may_be_out(self) -> None:
        if self.before_seeds is None:
            self.before_seeds = [*self.known_notes, *self.notes]

    def _after_seeds(self, shortcuts: dict[str, list[str]], notes: list[str]) -> tuple[dict[str, list[str]], list[str]]:
        """A tripwire record sent once the hidden inputs may be known to the code: the notes accepted before stay,
        anything new is one fixed line (:data:`HIDDEN_NOTE`); a forbidden routine still counts (it takes the
        function's points), but only under a name from the rubric."""
        kept = [n for n in self.notes if n in self.before_seeds or n == HIDDEN_NOTE]
        if any(n not in self.before_seeds for n in notes) and HIDDEN_NOTE not in kept:
            kept.append(HIDDEN_NOTE)
        known = {f: [*self.shortcuts.get(f, [])] for f in rubric.STUDENT_FUNCTIONS}
        for function, names in shortcuts.items():
            allowed = {*rubric.FORBIDDEN_SHORTCUTS.get(function, ()), f"grader.engine.trusted.{function}"}
            known[function] += [n for n in names if n in allowed and n not in known[function]]
        return {f: names for f, names in known.items() if names}, kept

    def _handle(self, kind, payload, name, stage, current, deadline, sandbox_path, observations, probes, progress):
        if kind == "I":  # the next module: the imports share one limit (the child's start set the deadline)
            return "import", payload.decode(errors="replace"), deadline
        if kind == "L":
            return "loaded", None, deadline
        if kind == "H":  # every public probe of this child has its result: only now do the seeds leave the parent,
            self.gate.public_done(self.lane)  # and only once every other lane's public probes have theirs
            self.gate.wait()
            self._seeds_may_be_out()
            fd, self.seed_write = self.seed_write, None
            try:
                wire.send_seeds(fd, {p: self.seeds[p] for p in probes if p in self.seeds})
            except OSError:  # the child is gone: its end of stream reports it
                pass
            return stage, current, time.monotonic() + self.limits.import_seconds
        if kind == "T":
            try:
                record = json.loads(payload.decode())
                shortcuts = {str(f): [str(n) for n in names][:20] for f, names in record["hits"].items()
                             if f in rubric.STUDENT_FUNCTIONS}
                notes = [str(n)[:300] for n in record["notes"]][:50]
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise wire.WireError(f"an unreadable tripwire record: {exc}") from None
            if self.gate.open:
                self._seeds_may_be_out()
                shortcuts, notes = self._after_seeds(shortcuts, notes)
            self.shortcuts, self.notes = shortcuts, notes
            return stage, current, deadline
        if kind == "S":
            if progress:
                progress("probe", name)
            return "probe", name, time.monotonic() + self.limits.probe_seconds
        # kind == "R"
        try:
            got, obs = wire.decode_observations(payload, self.budget)
            if got != name:
                raise wire.WireError(f"the result of {got!r} where {name!r} was expected")
            obs.errors = {k: v.replace(sandbox_path, "") for k, v in obs.errors.items()}
        except wire.WireError as exc:
            obs = _failed(f"the result of {name} could not be read ({exc})")
        observations[name] = obs
        return ("done" if all(p in observations for p in probes) else "between"), name, deadline


def _budget_text(stage: str, limits: Limits) -> str:
    if stage == "import":
        return f"the {limits.import_seconds:g} s the imports may take"
    return f"{limits.probe_seconds:g} s"


def _out_of_budget(limits: Limits) -> str:
    return (f"the submission's time budget of {limits.time_budget:g} s ran out (every import, check and restart "
            "counts; an endless loop or a slow import elsewhere?)")


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

"""Harness of the attack suite: a throwaway copy of the kit, the real ``grade`` CLI in a real subprocess, and the
instruments that tell whether an attack escaped.

Every grade run here:

- runs ``python -m grader`` (through a tiny wrapper, see :data:`WRAPPER`) with its working directory set to a
  throwaway copy of the kit, so that copy's ``grader`` package is the one imported, never the checkout the
  suite lives in (the kit is installed editable; the wrapper reports which ``grader`` it imported);
- gets its own HOME, XDG_CACHE_HOME and TMPDIR inside the test's temporary directory and an otherwise minimal
  environment;
- is bounded in time; when it ends, any process whose command line names the run's directory or the suite's
  marker is reported (as a survivor) and then ended: only processes this suite started carry those.

The wrapper reports the grade process's own peak RSS (``RUSAGE_SELF``), the peak of its reaped children
(``RUSAGE_CHILDREN``, the sandboxed children) and the ``grader`` package it imported.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from pathlib import Path

# The kit whose copy is attacked: the checkout this suite lives in, or another checkout of the kit named by
# DL_BASICS_ATTACK_KIT (say, an export of an older commit, to measure a baseline).
KIT = Path(os.environ.get("DL_BASICS_ATTACK_KIT") or Path(__file__).resolve().parents[2]).resolve()
KIT_PARTS = ("grader", "solutions", "exercises")
MIB = 1024 * 1024

# Runs ``grade`` exactly as ``python -m grader`` does (runpy with alter_sys), in this process, and then writes
# what the suite measures: the exit status, the grader package imported, and peak memory of this process and of
# its reaped children. ``-c`` puts the working directory first on sys.path, as ``-m`` does.
WRAPPER = r"""
import json, resource, runpy, sys
report, args = sys.argv[1], sys.argv[2:]
sys.argv = ["grade", *args]
status = 0
try:
    runpy.run_module("grader", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
except BaseException:
    import traceback
    traceback.print_exc()
    status = 3
finally:
    sys.stdout.flush()
    sys.stderr.flush()
    grader = sys.modules.get("grader")
    info = {"status": status, "grader_file": getattr(grader, "__file__", None),
            "self_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            "children_maxrss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}
    with open(report, "w") as f:
        json.dump(info, f)
sys.exit(status)
"""


def new_token() -> str:
    """A marker unique to one run of the suite: names of files, processes and tags the attacks leave."""
    return "atk" + secrets.token_hex(6)


# ----------------------------------------------------------------------------------------------- the kit copy

def copy_kit(dest: Path, source: Path = KIT) -> Path:
    """A throwaway copy of the kit: grader/ (without __pycache__), solutions/, exercises/, pyproject.toml."""
    dest.mkdir(parents=True)
    for part in KIT_PARTS:
        shutil.copytree(source / part, dest / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(source / "pyproject.toml", dest / "pyproject.toml")
    return dest


def passable(folder: Path) -> bool:
    """Whether every user may pass through ``folder`` and each folder above it (search permission for others)."""
    folder = folder.resolve()
    try:
        return all(f.stat().st_mode & 0o001 for f in (folder, *folder.parents))
    except OSError:
        return False


def scratch_root(name: str, fallback: Path) -> tuple[Path, bool]:
    """The folder a group of attack tests works in (everything they create goes inside it), and whether it was
    made here (then the caller removes it at the end).

    When the suite runs as root, the grader runs each submission's children as an unprivileged user of their own,
    who must reach the child's copies in the grade run's TMPDIR (inside this folder). pytest's own temporary
    folders are private to their owner (0700), so as root the folder is made in the system's temporary folder
    instead, owned by root and open to others for passing through only (0711): other users can reach a path
    inside it that they know, never list it. Otherwise ``fallback`` (pytest's folder) is used."""
    if os.geteuid() == 0:
        for base in (Path(tempfile.gettempdir()), Path("/tmp")):
            if base.is_dir() and passable(base):
                root = Path(tempfile.mkdtemp(prefix=f"dl-basics-{name}-", dir=base)).resolve()
                os.chmod(root, 0o711)
                return root, True
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback.resolve(), False


def purelib() -> Path:
    """The site-packages directory of the interpreter running the suite (the one ``grade`` runs on)."""
    return Path(sysconfig.get_paths()["purelib"])


# ----------------------------------------------------------------------------------------------- environments

@dataclasses.dataclass
class RunDirs:
    """The per-run places: HOME, XDG_CACHE_HOME and TMPDIR of one grade run, all inside ``root``."""

    root: Path

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def mplconfig(self) -> Path:
        return self.root / "mplconfig"

    def create(self, warm_cache: Path | None = None) -> "RunDirs":
        self.root.mkdir(parents=True, exist_ok=True)
        self.home.mkdir(exist_ok=True)
        self.tmp.mkdir(exist_ok=True)
        self.mplconfig.mkdir(exist_ok=True)
        if warm_cache is not None and warm_cache.is_dir():
            shutil.copytree(warm_cache, self.cache)
        else:
            self.cache.mkdir(exist_ok=True)
        return self


def environment(dirs: RunDirs) -> dict[str, str]:
    """A minimal environment: its own HOME, cache and temporary directory, the CPU, no bytecode files (so an
    honest run leaves the kit copy byte for byte as it was), and matplotlib's config directory (the trusted
    parent draws the class summary) outside HOME, so an honest run leaves HOME as it was too."""
    return {
        "PATH": os.defpath,
        "HOME": str(dirs.home),
        "XDG_CACHE_HOME": str(dirs.cache),
        "TMPDIR": str(dirs.tmp),
        "LANG": "C.UTF-8",
        "JAX_PLATFORMS": "cpu",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "MPLCONFIGDIR": str(dirs.mplconfig),
    }


# ----------------------------------------------------------------------------------------------- processes

def _ancestors() -> set[int]:
    pids, pid = set(), os.getpid()
    for _ in range(200):
        pids.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])
        if pid <= 1:
            break
    return pids


def processes_with(markers: list[str]) -> dict[int, str]:
    """Live (non-zombie) processes whose command line contains one of ``markers``: ``{pid: command line}``."""
    wanted = [m.encode() for m in markers if m]
    mine = _ancestors()
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in mine:
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state == "Z" or not cmdline:
            continue
        if any(m in cmdline for m in wanted):
            found[int(entry)] = cmdline.replace(b"\0", b" ").decode(errors="replace")[:200]
    return found


def end_processes(markers: list[str], rounds: int = 20) -> dict[int, str]:
    """SIGKILL every process :func:`processes_with` finds (only ours carry the markers); returns those left."""
    left = {}
    for _ in range(rounds):
        left = processes_with(markers)
        if not left:
            return {}
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.1)
    return left


class CommandLines:
    """Records, while it runs, the command line of every live process that carries one of ``markers`` (polled
    every ``interval`` seconds in a thread): what a process on this machine could read of the grade run's
    processes in ``/proc/<pid>/cmdline``."""

    def __init__(self, markers: list[str], interval: float = 0.05):
        self.markers, self.interval = [m.encode() for m in markers if m], interval
        self.seen: dict[int, bytes] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="attack-cmdlines", daemon=True)

    def _watch(self) -> None:
        mine = _ancestors()
        while not self._stop.is_set():
            for entry in os.listdir("/proc"):
                if not entry.isdigit() or int(entry) in mine or int(entry) in self.seen:
                    continue
                try:
                    cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
                except OSError:
                    continue
                if any(m in cmdline for m in self.markers):
                    self.seen[int(entry)] = cmdline
            self._stop.wait(self.interval)

    def __enter__(self) -> "CommandLines":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def survivors(markers: list[str], grace: float = 2.0) -> dict[int, str]:
    """Processes with ``markers`` still alive ``grace`` seconds after the grade process ended."""
    deadline = time.monotonic() + grace
    found = processes_with(markers)
    while found and time.monotonic() < deadline:
        time.sleep(0.1)
        found = processes_with(markers)
    return found


# ----------------------------------------------------------------------------------------------- grade runs

@dataclasses.dataclass
class Run:
    """What one grade run did."""

    args: list[str]
    status: int | None
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool
    grader_file: str | None
    self_maxrss_kib: int | None       # the grade process itself
    children_maxrss_kib: int | None   # its sandboxed children (largest one)
    tree_maxrss_kib: int | None       # os.wait4 on the wrapper: the grade process and everything it reaped
    survivors: dict[int, str]         # processes carrying the run's markers after it ended (then ended)

    def json(self) -> dict:
        return json.loads(self.stdout)

    def brief(self) -> str:
        return (f"status {self.status}, {self.seconds:.1f} s{' (TIMED OUT)' if self.timed_out else ''}; "
                f"stderr tail: {self.stderr[-1500:]!r}")


def run_grade(kit: Path, dirs: RunDirs, args: list[str], timeout: float, markers: list[str] = (),
              env: dict[str, str] | None = None, program: str = WRAPPER) -> Run:
    """Run ``grade ARGS`` with cwd = the kit copy ``kit``, the environment of ``dirs`` (and ``env`` on top of it),
    at most ``timeout`` s. ``program``: another ``python -c`` program in place of :data:`WRAPPER` (given the same
    arguments: the report file to write, then ``ARGS``)."""
    report = dirs.root / f"wrapper-{secrets.token_hex(4)}.json"
    out_path, err_path = report.with_suffix(".out"), report.with_suffix(".err")
    start = time.monotonic()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-c", program, str(report), *args], cwd=kit,
                                env={**environment(dirs), **(env or {})}, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=err, start_new_session=True)
    timed_out, status, rusage = False, None, None
    deadline = start + timeout
    try:
        while True:
            pid, wait_status, rusage = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                status = os.waitstatus_to_exitcode(wait_status)
                break
            if time.monotonic() > deadline:
                timed_out = True
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                _, wait_status, rusage = os.wait4(proc.pid, 0)
                status = os.waitstatus_to_exitcode(wait_status)
                break
            time.sleep(0.1)
    finally:
        proc.returncode = status if status is not None else -9  # reaped here: Popen must not wait again
    seconds = time.monotonic() - start
    all_markers = [str(dirs.root), *markers]
    left = survivors(all_markers) if not timed_out else processes_with(all_markers)
    still = end_processes(all_markers)
    if still:
        left = {**left, **{pid: f"(could not be ended) {cmd}" for pid, cmd in still.items()}}
    info = {}
    try:
        info = json.loads(report.read_text())
    except (OSError, ValueError):
        pass
    return Run(args=list(args), status=status, stdout=out_path.read_text(errors="replace"),
               stderr=err_path.read_text(errors="replace"), seconds=seconds, timed_out=timed_out,
               grader_file=info.get("grader_file"), self_maxrss_kib=info.get("self_maxrss_kib"),
               children_maxrss_kib=info.get("children_maxrss_kib"),
               tree_maxrss_kib=getattr(rusage, "ru_maxrss", None), survivors=left)


def read_reports(out: Path, students, stem=lambda student: student) -> dict[str, dict | None]:
    """Each student's JSON report in the batch folder ``out`` (named ``stem(student)``, e.g. the batch's
    ``report_stem``), or None where there is none (or it does not parse)."""
    reports = {}
    for student in students:
        try:
            reports[student] = json.loads((out / f"{stem(student)}.json").read_text())
        except (OSError, ValueError):
            reports[student] = None
    return reports


def assert_imported_copy(run: Run, kit: Path) -> None:
    """The grade process imported the throwaway copy's grader, not the checkout the suite lives in."""
    where = run.grader_file
    assert where is not None, f"the grade wrapper did not report which grader it imported ({run.brief()})"
    assert Path(where).resolve().is_relative_to(kit.resolve()), (
        f"grade imported a grader outside the throwaway copy: {where}")
    assert not Path(where).resolve().is_relative_to(KIT / "grader"), f"grade imported the real kit: {where}"


# ----------------------------------------------------------------------------------------------- file trees

def snapshot(root: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """``{relative path: digest}`` of every file, directory and symlink under ``root`` (empty if absent)."""
    out: dict[str, str] = {}
    if not root.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        rel_dir = Path(dirpath).relative_to(root)
        dirnames[:] = [d for d in dirnames if (rel_dir / d).as_posix() not in skip]
        for d in dirnames:
            p = Path(dirpath) / d
            out[(rel_dir / d).as_posix() + "/"] = f"link:{os.readlink(p)}" if p.is_symlink() else "dir"
        for name in filenames:
            p = Path(dirpath) / name
            rel = (rel_dir / name).as_posix()
            if rel in skip:
                continue
            if p.is_symlink():
                out[rel] = f"link:{os.readlink(p)}"
                continue
            try:
                h = hashlib.sha256()
                with open(p, "rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        h.update(chunk)
                out[rel] = h.hexdigest()
            except OSError as exc:
                out[rel] = f"unreadable:{exc.errno}"
    return out


def diff(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Human-readable differences between two snapshots."""
    changes = [f"changed {k}" for k in sorted(before.keys() & after.keys()) if before[k] != after[k]]
    changes += [f"added {k}" for k in sorted(after.keys() - before.keys())]
    changes += [f"removed {k}" for k in sorted(before.keys() - after.keys())]
    return changes


SHARED_TEMPORARY = ("/tmp", "/var/tmp", "/dev/shm")


def shared_entries() -> dict[str, int]:
    """``{path: owner uid}`` of the entries directly inside the machine's shared temporary folders: where a
    process that no Landlock rule confines may still create files."""
    found = {}
    for folder in SHARED_TEMPORARY:
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            try:
                found[os.path.join(folder, name)] = os.lstat(os.path.join(folder, name)).st_uid
            except OSError:
                continue
    return found


# ----------------------------------------------------------------------------------------------- network

class Listener:
    """A TCP listener and a UDP socket on 127.0.0.1 (ephemeral ports) recording whatever reaches them."""

    def __init__(self):
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(16)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.tcp_port = self.tcp.getsockname()[1]
        self.udp_port = self.udp.getsockname()[1]
        self.events: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="attack-listener", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.tcp, self.udp], [], [], 0.2)
            for sock in ready:
                try:
                    if sock is self.tcp:
                        conn, peer = self.tcp.accept()
                        conn.settimeout(1)
                        try:
                            data = conn.recv(200)
                        except OSError:
                            data = b""
                        conn.close()
                        self.events.append(f"TCP connection from {peer[0]}: {data[:80]!r}")
                    else:
                        data, peer = self.udp.recvfrom(2048)
                        self.events.append(f"UDP datagram ({len(data)} bytes, a DNS query?) from {peer[0]}")
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.tcp.close()
        self.udp.close()

    def __enter__(self) -> "Listener":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ----------------------------------------------------------------------------------------------- kernel features

@dataclasses.dataclass(frozen=True)
class Features:
    landlock: int
    namespaces: bool
    seccomp: bool

    @classmethod
    def detect(cls) -> "Features":
        """What the kernel offers, asked the way the kit asks it (the rows skip what it lacks)."""
        from grader.engine import confine
        return cls(confine.landlock_abi(), confine.namespaces_work(), confine.seccomp_supported())

    def describe(self) -> str:
        return (f"Landlock ABI {self.landlock or 'absent'}, user+net+pid+mount namespaces "
                f"{'available' if self.namespaces else 'unavailable'}, seccomp "
                f"{'available' if self.seccomp else 'unavailable'}")

    def missing_for(self, row: str) -> str | None:
        """Why this machine cannot enforce ``row`` (then the row is skipped), or None."""
        fs = self.landlock >= 1 or self.namespaces
        needs = {
            "files": (fs, "confining files needs Landlock or user+mount namespaces"),
            "signals": (self.landlock >= 6 or self.namespaces,
                        "hiding and scoping sibling processes needs a PID namespace or Landlock ABI >= 6"),
            "tcp": (self.landlock >= 4 or self.namespaces,
                    "denying TCP connections needs Landlock ABI >= 4 or a network namespace"),
            "udp": (self.namespaces, "denying UDP (DNS) needs a network namespace"),
        }
        ok, why = needs[row]
        return None if ok else f"{why}; this machine has {self.describe()}"


# ----------------------------------------------------------------------------------------------- submissions

def build_submission(dest: Path, source: Path, bodies: dict[str, str] | None = None,
                     append: dict[str, str] | None = None, files: dict[str, str] | None = None,
                     encoding: tuple[str, str] | None = None) -> Path:
    """A submission folder: a copy of ``source`` (solutions/ or exercises/ of the kit copy, without its tests);
    ``bodies`` gives functions a new body (between the solution markers); ``append`` adds code at the end of
    modules; ``files`` adds files; ``encoding=(module, codec)`` re-encodes a module and declares the codec on
    its first line."""
    import re
    import textwrap

    from grader.rubric import STUDENT_FUNCTIONS

    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("__pycache__", "test_*.py"))
    marker = re.compile(r"(    ### BEGIN SOLUTION\n).*?(    ### END SOLUTION\n)", re.S)
    for function, body in (bodies or {}).items():
        path = dest / f"{STUDENT_FUNCTIONS[function]}.py"
        text = path.read_text(encoding="utf-8")
        match = marker.search(text, text.index(f"def {function}("))
        assert match, f"no solution markers in {function} of {path.name}"
        new = textwrap.indent(textwrap.dedent(body).strip("\n"), "    ") + "\n"
        path.write_text(text[:match.start()] + match.group(1) + new + match.group(2) + text[match.end():],
                        encoding="utf-8")
    for module, code in (append or {}).items():
        path = dest / f"{module}.py"
        path.write_text(path.read_text(encoding="utf-8") + "\n" + code, encoding="utf-8")
    for name, content in (files or {}).items():
        (dest / name).write_text(content, encoding="utf-8")
    if encoding:
        module, codec = encoding
        path = dest / f"{module}.py"
        text = path.read_text(encoding="utf-8")
        path.write_bytes(f"# -*- coding: {codec} -*-\n".encode("ascii") + text.encode(codec))
    return dest

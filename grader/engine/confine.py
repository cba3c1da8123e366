"""Kernel confinement of the sandboxed child: what this machine offers, and how the child applies it.

The child runs student code. Whatever that code does, it may change only its own score, and only through
what its own functions return (README, Security). Three layers enforce that, each used where the kernel has it and
named in every report:

* **namespaces** (applied by the parent, through util-linux's ``unshare`` in front of the child's command):
  a new user namespace (the child holds no capability of the machine's), network namespace (no network at
  all: TCP, UDP, DNS, loopback), IPC namespace (no System V object outlives it), PID namespace with its own
  ``/proc`` in a new mount namespace (the child sees neither the parent nor its sibling children; when the
  child, the namespace's init, ends, the kernel ends every process it left behind). In that mount namespace the
  child mounts a tmpfs of bounded size and file count on its home (:func:`mount_scratch`) before anything else.
* **Landlock** (applied by the child to itself, before the first student import): a file-system allow-list —
  read the interpreter, the libraries and the child's own copy of the submission and of the probe code;
  write only the child's own temporary home. The kit checkout, its ``solutions/``, every cache, other
  submissions, ``/tmp`` and the parent's files are neither readable nor writable. TCP bind and connect are
  denied (ABI ≥ 4); signals and abstract Unix sockets are scoped to the child's own processes (ABI ≥ 6).
* **seccomp** (applied by the child after Landlock): system calls no probe needs fail with ``EPERM`` —
  creating sockets, tracing or reading other processes' memory, mounting, loading kernel modules or BPF,
  io_uring, new namespaces (``clone`` with a namespace flag too; ``clone3``, whose flags a filter cannot read,
  answers ENOSYS), memory the address-space limit does not count (memory files, System V shared memory, message
  queues), and signalling any process but itself (a second guard where Landlock cannot scope signals) — and
  ``no_new_privs`` is set, so nothing executed later regains privileges.

The parent decides the policy (:func:`available` says what the machine offers, once per process) and passes
it to the child as JSON; the child applies all of it or exits with :data:`EXIT_CONFINEMENT` and a message,
so a report never claims a layer that was not in force.
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import json
import os
import platform
import shutil
import struct
import subprocess
import sys
import sysconfig
from pathlib import Path

EXIT_CONFINEMENT = 97  # the child's status when it could not apply the policy it was given

# ---------------------------------------------------------------------------------------------------------
# What the machine offers (asked in the parent)

_SYS_LANDLOCK_CREATE_RULESET, _SYS_LANDLOCK_ADD_RULE, _SYS_LANDLOCK_RESTRICT_SELF = 444, 445, 446
_LANDLOCK_CREATE_RULESET_VERSION = 1 << 0
UNSHARE_FLAGS = ("--user", "--map-root-user", "--net", "--ipc", "--pid", "--fork", "--kill-child", "--mount-proc")


@dataclasses.dataclass(frozen=True)
class Layers:
    """The confinement layers of one child: which were in force, and the Landlock ABI."""

    landlock_abi: int = 0       # 0: no Landlock
    namespaces: bool = False    # user + network + PID + mount (private /proc)
    seccomp: bool = False
    user: bool = False          # the child runs as a dedicated unprivileged user (the grader runs as root)

    def describe(self) -> str:
        """One line for a report, e.g. 'Landlock ABI 7 (files, TCP, signals), namespaces, seccomp'."""
        parts = []
        if self.landlock_abi:
            extra = ["files"] + (["TCP"] if self.landlock_abi >= 4 else []) + \
                    (["signals, abstract sockets"] if self.landlock_abi >= 6 else [])
            parts.append(f"Landlock ABI {self.landlock_abi} ({', '.join(extra)})")
        if self.namespaces:
            parts.append("user/network/PID/mount namespaces")
        if self.seccomp:
            parts.append("seccomp")
        if self.user:
            parts.append("a dedicated unprivileged user")
        return ", ".join(parts) if parts else "process boundary only (no kernel confinement)"

    @property
    def complete(self) -> bool:
        """Every layer ``--require-isolation`` asks for: Landlock with TCP and scoping, namespaces, seccomp."""
        return self.landlock_abi >= 6 and self.namespaces and self.seccomp

    @property
    def contained(self) -> bool:
        """Whether a layer keeps files the child must not see out of its reach: Landlock's allow-list, or a user
        of its own, to whom root-only files (the secret, a private ``solutions/``) are unreadable and the kit and
        other submissions unwritable. Grading with a secret, or under ``--require-containment``, needs it."""
        return self.landlock_abi >= 1 or self.user

    def to_json(self) -> dict:
        return {"landlock_abi": self.landlock_abi, "namespaces": self.namespaces, "seccomp": self.seccomp,
                "user": self.user, "summary": self.describe()}


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 when Landlock is absent or disabled."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        version = _libc().syscall(_SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0),
                                  ctypes.c_uint32(_LANDLOCK_CREATE_RULESET_VERSION))
    except (OSError, AttributeError):
        return 0
    return max(int(version), 0)


def namespaces_work(user: int | None = None) -> bool:
    """Whether ``unshare`` can give a child its namespaces (as ``user``, the children's user, when given)."""
    unshare = shutil.which("unshare")
    if not unshare:
        return False
    return _runs([unshare, *UNSHARE_FLAGS, "--", "true"], user)


def _runs(command: list[str], user: int | None) -> bool:
    try:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=30, **as_user(user))
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


# Children's users: numbers no account uses, one per submission being graded (its lanes and restarts share it), so
# that two children graded side by side cannot signal, trace or write to each other either.
CHILD_UID_BASE, CHILD_UID_SPAN = 1_900_000_000, 1 << 24
_next_user = iter(range(1 << 62))


def _mapped(uid: int) -> bool:
    """Whether ``uid`` exists in this process's user namespace (a container may map only a few thousand)."""
    try:
        lines = Path("/proc/self/uid_map").read_text().split("\n")
    except OSError:
        return True
    for line in lines:
        fields = line.split()
        if len(fields) == 3 and int(fields[0]) <= uid < int(fields[0]) + int(fields[2]):
            return True
    return False


def new_child_user() -> int:
    """A user (and group) id for the children of one submission: unused by accounts, unique among this
    machine's concurrent gradings (by process id and a counter)."""
    return CHILD_UID_BASE + ((os.getpid() << 10) + next(_next_user)) % CHILD_UID_SPAN


def as_user(user: int | None) -> dict:
    """``subprocess`` arguments that start a process as ``user`` (its own group, no supplementary groups)."""
    return {} if user is None else {"user": user, "group": user, "extra_groups": []}


def open_to_others(path: str | Path) -> bool:
    """Whether a user with no relation to the owners can read ``path`` (a file, or a folder and its listing):
    every folder above it lets others through, and it lets others read it."""
    path = Path(path).resolve()
    try:
        if any(not parent.stat().st_mode & 0o001 for parent in path.parents):
            return False
        mode = path.stat().st_mode
    except OSError:
        return False
    return bool(mode & 0o004) and (not path.is_dir() or bool(mode & 0o001))


def child_user_works() -> bool:
    """Whether children can run as a user of their own: this process is root (who may switch users), the id
    range exists here, and such a user can start this interpreter and import NumPy (its folders are
    readable and traversable by every user)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or not _mapped(CHILD_UID_BASE + CHILD_UID_SPAN - 1):
        return False
    return _runs([sys.executable, "-I", "-c", "import numpy"], CHILD_UID_BASE + CHILD_UID_SPAN - 1)


def seccomp_supported() -> bool:
    return sys.platform.startswith("linux") and platform.machine() in _DENIED_SYSCALLS


@functools.lru_cache(maxsize=None)
def available() -> Layers:
    """What this machine offers now (asked once per process). ``DL_BASICS_CONFINE`` can switch layers off
    for diagnosis: a comma-separated list of the layers to keep (``landlock,namespaces,seccomp,user``, or ``none``)."""
    wanted = os.environ.get("DL_BASICS_CONFINE", "landlock,namespaces,seccomp,user")
    keep = {w.strip() for w in wanted.split(",")}
    user = "user" in keep and child_user_works()
    probe_user = CHILD_UID_BASE + CHILD_UID_SPAN - 1 if user else None
    return Layers(landlock_abi=landlock_abi() if "landlock" in keep else 0,
                  namespaces=namespaces_work(probe_user) if "namespaces" in keep else False,
                  seccomp=seccomp_supported() if "seccomp" in keep else False, user=user)


def wrap_command(command: list[str], layers: Layers) -> list[str]:
    """The child's command, run inside new namespaces when ``layers`` has them."""
    if not layers.namespaces:
        return command
    return [shutil.which("unshare") or "unshare", *UNSHARE_FLAGS, "--", *command]


# ---------------------------------------------------------------------------------------------------------
# The policy the parent hands to the child

@dataclasses.dataclass(frozen=True)
class Policy:
    """Paths the child may read, the folder it may write, the layers it must apply, and (with namespaces) the
    size and file count of the memory file system mounted on that folder."""

    read: tuple[str, ...]
    write: tuple[str, ...]
    layers: Layers
    write_bytes: int = 0     # tmpfs size of each ``write`` folder (0: no tmpfs)
    write_files: int = 0     # tmpfs inodes: files and folders together

    def to_json(self) -> str:
        return json.dumps({"read": list(self.read), "write": list(self.write),
                           "landlock_abi": self.layers.landlock_abi, "namespaces": self.layers.namespaces,
                           "seccomp": self.layers.seccomp, "user": self.layers.user,
                           "write_bytes": self.write_bytes, "write_files": self.write_files})

    @classmethod
    def from_json(cls, text: str) -> "Policy":
        d = json.loads(text)
        return cls(tuple(d["read"]), tuple(d["write"]),
                   Layers(int(d["landlock_abi"]), bool(d["namespaces"]), bool(d["seccomp"]), bool(d["user"])),
                   int(d.get("write_bytes", 0)), int(d.get("write_files", 0)))


# Files and folders outside the Python installation that an interpreter running JAX on the CPU reads.
SYSTEM_READ = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc/ld.so.cache", "/etc/ld.so.conf",
               "/etc/ld.so.conf.d", "/etc/localtime", "/etc/nsswitch.conf", "/etc/passwd", "/etc/group",
               "/etc/host.conf", "/etc/hosts", "/etc/resolv.conf", "/etc/os-release", "/etc/alternatives",
               "/etc/ssl", "/etc/matplotlibrc", "/sys/devices/system/cpu", "/sys/devices/system/node",
               "/sys/fs/cgroup", "/proc/cpuinfo", "/proc/meminfo", "/proc/stat", "/proc/self",
               "/proc/sys/kernel/osrelease", "/proc/sys/vm/overcommit_memory", "/dev/null", "/dev/zero",
               "/dev/urandom", "/dev/random", "/dev/full")


def python_roots() -> list[str]:
    """The interpreter's installation: its standard library, extension modules and site-packages."""
    roots = set()
    for scheme_path in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(scheme_path)
        if path:
            roots.add(path)
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
        roots.add(str(Path(prefix) / "bin"))
        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        roots.add(str(Path(prefix) / "lib" / version))
    import site
    roots.update(site.getsitepackages())
    roots.add(str(Path(sys.executable).resolve().parent))
    roots.add(str(Path(sys.prefix) / "pyvenv.cfg"))  # a virtual environment's interpreter reads it at start
    for lib in ("LIBDIR", "LIBPL"):
        if sysconfig.get_config_var(lib):
            roots.add(sysconfig.get_config_var(lib))
    return sorted(r for r in roots if r)


def make_policy(layers: Layers, read_extra: list[str], write: list[str], protected: list[str],
                write_bytes: int = 0, write_files: int = 0) -> Policy:
    """The child's allow-list. A root that would contain a ``protected`` path (the kit checkout, the caches,
    the submissions being graded) is left out, so no rule ever reaches them; ``read_extra`` are the child's
    own copies and the dataset's files."""
    protected_paths = [Path(p).resolve() for p in protected]
    reads = []
    for root in [*python_roots(), *SYSTEM_READ, *read_extra]:
        if not os.path.exists(root):
            continue
        resolved = Path(root).resolve()
        if any(p == resolved or resolved in p.parents for p in protected_paths) and root not in read_extra:
            continue
        reads.append(root)
    bounded = layers.namespaces and write_bytes > 0
    return Policy(tuple(dict.fromkeys(reads)), tuple(write), layers, write_bytes if bounded else 0,
                  write_files if bounded else 0)


# ---------------------------------------------------------------------------------------------------------
# Applying the policy (in the child, before the first student import, while it has one thread)

_FS_EXECUTE, _FS_WRITE_FILE, _FS_READ_FILE, _FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_FS_ALL_ABI1 = (1 << 13) - 1
_FS_REFER, _FS_TRUNCATE, _FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_FILE_RIGHTS = _FS_EXECUTE | _FS_WRITE_FILE | _FS_READ_FILE | _FS_TRUNCATE | _FS_IOCTL_DEV
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1
_LANDLOCK_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 38, 22, 2


class ConfinementError(RuntimeError):
    pass


def _fs_rights(abi: int) -> int:
    rights = _FS_ALL_ABI1
    if abi >= 2:
        rights |= _FS_REFER
    if abi >= 3:
        rights |= _FS_TRUNCATE
    if abi >= 5:
        rights |= _FS_IOCTL_DEV
    return rights


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise ConfinementError(f"{what} failed: {os.strerror(err)}")
    return result


def _no_new_privs(libc) -> None:
    _check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")


def apply_landlock(policy: Policy) -> None:
    """Restrict this thread (and every process it starts) to ``policy``'s paths, no TCP, scoped signals."""
    abi = policy.layers.landlock_abi
    libc = _libc()
    handled_fs = _fs_rights(abi)
    handled_net = (_NET_BIND_TCP | _NET_CONNECT_TCP) if abi >= 4 else 0
    scoped = (_SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL) if abi >= 6 else 0
    attr = struct.pack("=QQQ", handled_fs, handled_net, scoped)
    buf = ctypes.create_string_buffer(attr, len(attr))
    ruleset = _check(libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, buf, ctypes.c_size_t(len(attr)),
                                  ctypes.c_uint32(0)), "landlock_create_ruleset")
    try:
        read = _FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR
        rules = [(p, read) for p in policy.read] + [(p, handled_fs) for p in policy.write]
        for path, rights in rules:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                if not os.path.isdir(path):
                    rights &= _FILE_RIGHTS
                    if path.startswith("/dev/"):
                        rights |= (_FS_WRITE_FILE | (_FS_IOCTL_DEV if abi >= 5 else 0)) & handled_fs
                rule = struct.pack("=Qi", rights & handled_fs, fd)
                rbuf = ctypes.create_string_buffer(rule, len(rule))
                _check(libc.syscall(_SYS_LANDLOCK_ADD_RULE, ctypes.c_int(ruleset),
                                    ctypes.c_int(_LANDLOCK_RULE_PATH_BENEATH), rbuf, ctypes.c_uint32(0)),
                       f"landlock_add_rule({path})")
            finally:
                os.close(fd)
        _no_new_privs(libc)
        _check(libc.syscall(_SYS_LANDLOCK_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)),
               "landlock_restrict_self")
    finally:
        os.close(ruleset)


# System calls no probe needs, by architecture. Sockets of every family (network and named Unix sockets
# alike; socketpair stays), tracing and cross-process memory, file handles, mounts and namespaces, kernel
# modules, BPF, perf, keyrings, io_uring (which bypasses seccomp), the machine's clock, name and power, and
# memory shared outside the child's address space, where ``RLIMIT_AS`` does not count it: memory files
# (``memfd_create``, ``memfd_secret``), System V shared memory and POSIX message queues.
_DENIED_SYSCALLS: dict[str, dict[str, int]] = {
    "x86_64": {
        "shmget": 29, "socket": 41, "ptrace": 101, "syslog": 103, "personality": 135, "pivot_root": 155,
        "acct": 163, "settimeofday": 164, "mount": 165, "umount2": 166, "swapon": 167, "swapoff": 168,
        "reboot": 169, "sethostname": 170, "setdomainname": 171, "iopl": 172, "ioperm": 173, "init_module": 175,
        "delete_module": 176, "quotactl": 179, "clock_settime": 227, "mq_open": 240, "kexec_load": 246,
        "add_key": 248, "request_key": 249, "keyctl": 250, "unshare": 272, "perf_event_open": 298,
        "fanotify_init": 300, "name_to_handle_at": 303, "open_by_handle_at": 304, "setns": 308,
        "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312, "finit_module": 313, "memfd_create": 319,
        "kexec_file_load": 320, "bpf": 321, "userfaultfd": 323, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431,
        "fsmount": 432, "fspick": 433, "pidfd_getfd": 438, "process_madvise": 440, "mount_setattr": 442,
        "memfd_secret": 447,
    },
}
_AUDIT_ARCH = {"x86_64": 0xC000003E}
_X32_SYSCALL_BIT = 0x40000000


# Signals may go to this process only (or its own process group, 0): checked on the first argument of the
# calls that take a process id, against the process id the filter was built in. A process the student
# starts cannot signal anyone else either; the grading parent ends it with the rest of the tree.
_SIGNAL_SYSCALLS: dict[str, dict[str, int]] = {
    "x86_64": {"kill": 62, "rt_sigqueueinfo": 129, "tgkill": 234, "rt_tgsigqueueinfo": 297},
}
_DENIED_SIGNALS: dict[str, dict[str, int]] = {"x86_64": {"tkill": 200, "pidfd_send_signal": 424, "pidfd_open": 434}}

# New processes and threads: ``clone`` is allowed unless its flags (the first argument) ask for a new namespace
# (mount, cgroup, UTS, IPC, user, PID, network, time). ``clone3`` passes its flags in memory a filter cannot read,
# so it answers ENOSYS, on which the C library falls back to ``clone``.
_CLONE: dict[str, int] = {"x86_64": 56}
_CLONE3: dict[str, int] = {"x86_64": 435}
CLONE_NAMESPACE_FLAGS = (0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000
                         | 0x40000000 | 0x00000080)
_EPERM, _ENOSYS = 1, 38


def _seccomp_program(machine: str, pid: int) -> bytes:
    """A classic-BPF filter: wrong architecture → kill; x32 or a denied call → EPERM; a signal to another
    process than ``pid`` → EPERM; ``clone`` with a namespace flag → EPERM; ``clone3`` → ENOSYS; anything else →
    allow. Jumps are written to labels and resolved at the end (offsets count from the next instruction, forward
    only, at most 255)."""
    ld_abs, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    allow, kill = 0x7FFF0000, 0x80000000
    errno = 0x00050000
    program: list[tuple[int, object, object, int]] = []   # (code, jump if true, jump if false, k)

    def emit(code, k, jt=0, jf=0):
        program.append((code, jt, jf, k))

    arg0_low = 16                                           # offsetof(seccomp_data, args[0]) (little endian)
    emit(ld_abs, 4)                                         # A = seccomp_data.arch
    emit(jeq, _AUDIT_ARCH[machine], 1, 0)
    emit(ret, kill)
    emit(ld_abs, 0)                                         # A = seccomp_data.nr
    emit(jge, _X32_SYSCALL_BIT, "eperm")
    for nr in sorted({**_DENIED_SYSCALLS[machine], **_DENIED_SIGNALS[machine]}.values()):
        emit(jeq, nr, "eperm")
    for nr in sorted(_SIGNAL_SYSCALLS[machine].values()):
        emit(jeq, nr, "signal")
    emit(jeq, _CLONE[machine], "clone")
    emit(jeq, _CLONE3[machine], "enosys")
    emit(ret, allow)                                        # any other call
    labels = {"signal": len(program)}                       # the target pid: 0 (own group), this process, its group
    emit(ld_abs, arg0_low)
    emit(jeq, 0, "allow")
    emit(jeq, pid & 0xFFFFFFFF, "allow")
    emit(jeq, (-pid) & 0xFFFFFFFF, "allow", "eperm")
    labels["clone"] = len(program)                          # the flags: no new namespace
    emit(ld_abs, arg0_low)
    emit(jset, CLONE_NAMESPACE_FLAGS, "eperm", "allow")
    labels["allow"] = len(program)                          # the answers, after every jump to them (BPF jumps forward)
    emit(ret, allow)
    labels["eperm"] = len(program)
    emit(ret, errno | _EPERM)
    labels["enosys"] = len(program)
    emit(ret, errno | _ENOSYS)

    def offset(at: int, target) -> int:
        return target if isinstance(target, int) else labels[target] - at - 1
    return b"".join(struct.pack("=HBBI", code, offset(i, jt), offset(i, jf), k)
                    for i, (code, jt, jf, k) in enumerate(program))


def apply_seccomp() -> None:
    machine = platform.machine()
    if machine not in _DENIED_SYSCALLS:
        raise ConfinementError(f"no seccomp filter for {machine}")
    libc = _libc()
    _no_new_privs(libc)
    code = _seccomp_program(machine, os.getpid())
    filters = ctypes.create_string_buffer(code, len(code))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    prog = SockFprog(len(code) // 8, ctypes.addressof(filters))
    _check(libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0), "prctl(PR_SET_SECCOMP)")


_MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 0x2, 0x4, 0x8


def mount_scratch(policy: Policy) -> None:
    """Mount a memory file system of ``policy.write_bytes`` bytes and ``policy.write_files`` inodes on each folder
    the child may write (its home), in the child's own mount namespace: what the code writes there cannot exceed
    it, no one outside sees it, and it is gone when the namespace ends (the last process of the child)."""
    libc = _libc()
    options = f"size={policy.write_bytes},nr_inodes={policy.write_files},mode=0700".encode()
    for folder in policy.write:
        _check(libc.mount(b"tmpfs", folder.encode(), b"tmpfs", ctypes.c_ulong(_MS_NOSUID | _MS_NODEV | _MS_NOEXEC),
                          ctypes.c_char_p(options)), f"mount(tmpfs on {folder})")


def apply(policy: Policy) -> None:
    """Apply every layer the policy names that is the child's to apply (namespaces are the parent's): the
    bounded home first (it needs ``mount``), then Landlock (its rules name the mounted home), then seccomp."""
    if policy.write_bytes:
        mount_scratch(policy)
    if policy.layers.landlock_abi:
        apply_landlock(policy)
    if policy.layers.seccomp:
        apply_seccomp()
    if not policy.layers.landlock_abi and not policy.layers.seccomp and sys.platform.startswith("linux"):
        _no_new_privs(_libc())

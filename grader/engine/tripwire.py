"""Run-time shortcut detection inside the sandboxed child: what the static scan cannot see.

A static scan (:mod:`grader.engine.shortcuts`) reads the source; code can still reach a library routine through
``getattr`` on a computed name, ``exec``, an import made at run time, or the kit's own ``grader.engine.trusted``.
The tripwire watches the calls themselves. Before the first student import, the child replaces every
forbidden routine of the rubric (``jax.nn.softmax``, ``optax.softmax_cross_entropy…``, the kit's trusted
reference functions, …) in every loaded module that holds it by a :class:`_Tripwire` that, when called,
looks at the Python stack: each frame of the submission's code that belongs to student function ``f`` (its
own frame, or a helper or lambda called beneath it) for which the routine is forbidden records a hit for
``f``. Trusted code calling the same routine (the trainings use library parts for other sections) has no
student frame on its stack and records nothing. Attribute access is forwarded, and callables reached
through the wrapper (``__wrapped__``, ``.fun``) are wrapped too.

An audit hook (PEP 578; it cannot be removed once added) notes, for an instructor's review, student code
that reaches for file descriptors, ``/proc``, ctypes, signals, sockets, processes, frames or the garbage
collector, or imports the grading kit. Neither mechanism is a wall — code in the process can defeat any
in-process check; the kernel confinement (:mod:`grader.engine.confine`) is what keeps other scores safe.
"""

from __future__ import annotations

import importlib
import sys
from typing import Callable

from grader.engine.guard import STUDENT_IMPORTABLE

_MODULE_PREFIXES = ("jax", "optax", "flax", "grader")
_LIBRARY_PREFIXES = ("jax", "optax", "flax", "numpy", "jaxlib", "grader")
_REVIEW_EVENTS = {
    "ctypes.dlopen": "ctypes", "ctypes.dlsym": "ctypes", "ctypes.addressof": "ctypes", "ctypes.string_at": "ctypes",
    "ctypes.cdata": "ctypes", "socket.__new__": "sockets", "socket.connect": "sockets",
    "socket.getaddrinfo": "sockets", "os.kill": "signals", "os.killpg": "signals", "signal.pthread_kill": "signals",
    "subprocess.Popen": "processes", "os.system": "processes", "os.exec": "processes", "os.posix_spawn": "processes",
    "os.fork": "processes", "os.forkpty": "processes", "sys._getframe": "frames", "sys._current_frames": "frames",
    "gc.get_objects": "the garbage collector", "gc.get_referrers": "the garbage collector",
    "gc.get_referents": "the garbage collector", "sys.addaudithook": "audit hooks", "sys.settrace": "tracing",
    "sys.setprofile": "tracing", "object.__getattr__": "frames",
}


class Recorder:
    """What the tripwire saw: forbidden routines per student function, and notes for review."""

    def __init__(self, student_dir: str, functions: dict[str, tuple[str, ...]]):
        self.student_dir = student_dir.rstrip("/") + "/"
        self.functions = functions          # student function -> forbidden dotted names
        self.hits: dict[str, list[str]] = {}
        self.notes: list[str] = []
        self._busy = False

    def student_functions_on_stack(self, frame) -> list[str]:
        """The student functions whose code (or a helper beneath it) is running: the names of student-file
        frames that are student functions, each once, innermost first."""
        found: list[str] = []
        while frame is not None:
            code = frame.f_code
            if code.co_filename.startswith(self.student_dir) and code.co_name in self.functions \
                    and code.co_name not in found:
                found.append(code.co_name)
            frame = frame.f_back
        return found

    def called(self, names: tuple[str, ...], frame) -> None:
        """Record ``names`` for the student functions on the stack, unless the nearest known caller is the
        library itself (a routine the library calls internally, beneath an allowed one, is not a shortcut)."""
        caller = frame
        while caller is not None and not caller.f_code.co_filename.startswith(self.student_dir):
            if str(caller.f_globals.get("__name__", "")).startswith(_LIBRARY_PREFIXES):
                return
            caller = caller.f_back
        for function in self.student_functions_on_stack(frame):
            for name in names:
                if any(name == f or name.startswith(f + ".") for f in self.functions[function]):
                    bucket = self.hits.setdefault(function, [])
                    if name not in bucket:
                        bucket.append(name)

    def note(self, text: str) -> None:
        if text not in self.notes and len(self.notes) < 50:
            self.notes.append(text)

    def audit(self, event: str, args: tuple) -> None:
        if self._busy:
            return
        category = _REVIEW_EVENTS.get(event)
        if category is None and event == "open" and args:
            path = args[0]
            if isinstance(path, int):
                category = "file descriptors"
            elif isinstance(path, (str, bytes)) and str(path).startswith(("/proc", "/sys", "b'/proc")):
                category = "/proc or /sys"
        if category is None and event == "import" and args and str(args[0]).split(".")[0] == "grader" \
                and str(args[0]) not in STUDENT_IMPORTABLE:  # the released exercises load their data through the kit
            category = "the grading kit"
        if category is None and event in ("exec", "compile"):
            category = "code built at run time"
        if category is None:
            return
        self._busy = True
        try:
            frame = sys._getframe(1)  # the Python code that raised the event: noted only when it is the student's
            if frame.f_code.co_filename.startswith(self.student_dir):
                where = frame.f_code.co_filename[len(self.student_dir):]
                self.note(f"{where}:{frame.f_lineno}: reaches for {category} ({event})")
        finally:
            self._busy = False


class _Tripwire:
    """Stands in for a forbidden routine: records student callers, then calls the original."""

    __slots__ = ("_original", "_names", "_recorder")

    def __init__(self, original, names: tuple[str, ...], recorder: Recorder):
        object.__setattr__(self, "_original", original)
        object.__setattr__(self, "_names", names)
        object.__setattr__(self, "_recorder", recorder)

    def __call__(self, *args, **kwargs):
        self._recorder.called(self._names, sys._getframe(1))
        return self._original(*args, **kwargs)

    def __getattr__(self, name):
        value = getattr(self._original, name)
        if callable(value) and not isinstance(value, type):
            return _Tripwire(value, self._names, self._recorder)
        return value

    def __get__(self, instance, owner=None):  # stored on a class: bind only where the original would
        if instance is None or not hasattr(type(self._original), "__get__"):
            return self
        return lambda *a, **k: self(instance, *a, **k)

    def __repr__(self):
        return repr(self._original)


def _resolve(dotted: str):
    """The object a dotted name denotes (``jax.nn.softmax``), or None when it does not exist here."""
    parts = dotted.split(".")
    if parts[0] not in sys.modules:  # not loaded yet: its routines alias the wrapped jax ones when it is
        return None
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except Exception:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def install(student_dir: str, forbidden: dict[str, tuple[str, ...]],
            trusted: dict[str, Callable] | None = None) -> Recorder:
    """Wrap every forbidden routine where loaded modules hold it; add the review audit hook.

    ``forbidden`` maps each student function to its forbidden dotted names; ``trusted`` maps each to the
    kit's reference implementation in this process (forbidden to it as "grader.engine.trusted.<name>").
    """
    recorder = Recorder(student_dir, forbidden)
    targets: dict[int, tuple[object, list[str]]] = {}
    names = {n for group in forbidden.values() for n in group}
    for name in sorted(names):
        obj = _resolve(name) if not name.startswith("grader") else None
        if obj is not None and callable(obj) and not isinstance(obj, type):
            targets.setdefault(id(obj), (obj, []))[1].append(name)
    for function, fn in (trusted or {}).items():
        targets.setdefault(id(fn), (fn, []))[1].append(f"grader.engine.trusted.{function}")
    wrappers = {key: _Tripwire(obj, tuple(labels), recorder) for key, (obj, labels) in targets.items()}
    for module_name, module in list(sys.modules.items()):
        if module is None or not module_name.startswith(_MODULE_PREFIXES):
            continue
        try:
            attributes = list(vars(module).items())
        except TypeError:
            continue
        for attr, value in attributes:
            wrapper = wrappers.get(id(value))
            if wrapper is not None and wrapper._original is value:
                try:
                    setattr(module, attr, wrapper)
                except (AttributeError, TypeError):
                    pass
    sys.addaudithook(recorder.audit)
    return recorder

"""The child's guard: student code cannot reach the probe driver, the kit's reference code or the interpreter's
insides, while the kit's own code goes on as before.

The graded interpreter belongs to the student: module-level code and every function it defines run in the same
process as the probe driver. Four measures take away the means to stand in for the driver:

* :func:`hide_kit` removes the kit's modules (``grader.*``) and any ``solutions`` from ``sys.modules``, after the
  driver has bound everything it uses: no name leads student code to the probing engine, the wire or the trusted
  reference functions. ``__main__`` holds no kit object (the boot command binds nothing there).
* :func:`install` adds an audit hook (PEP 578; it cannot be removed) that **refuses** — raises
  :class:`Refused`, a ``RuntimeError`` — the events below when the code that raised them is the submission's,
  that is when the nearest frame on the stack that belongs either to the kit or to the submission is the
  submission's (library and standard-library frames in between do not count), while the kit's own calls go
  through:

  - frames and tracebacks: ``sys._getframe``, ``sys._current_frames``, and reading ``tb_frame``, ``gi_frame``,
    ``cr_frame``, ``ag_frame`` (CPython audits those reads as ``object.__getattr__``) — when the submission's code
    raises the event itself or through a standard-library helper that hands the frame on
    (``inspect.currentframe``, ``traceback.walk_stack``, …); library code that reads a frame for its own use
    (``typing`` and ``collections`` looking up their caller's module name, JAX filtering a traceback) goes on;
  - the garbage collector's object graph: ``gc.get_objects``, ``gc.get_referrers``, ``gc.get_referents``;
  - ``ctypes`` (every ``ctypes.*`` event), ``sys.settrace``/``sys.setprofile`` and their ``threading`` forms,
    new audit hooks, new threads (``_thread.start_new_thread``), building functions or code objects at run
    time (``function.__new__``, ``code.__new__``), rebinding ``__code__`` (``object.__setattr__``);
  - importing a kit module other than the dataset loaders the released exercises use
    (:data:`STUDENT_IMPORTABLE`), or the instructor's ``solutions``, and opening any other file of the kit
    (``importlib.import_module`` raises no ``import`` event, but every loader opens the source).

* :func:`protect_modules` turns every loaded module into one whose attributes the submission's code may not
  set or delete: ``jax.jit = …`` or ``setattr(optax, "sgd", …)`` raise :class:`Refused` (the probes call those
  libraries, so a patch would stand in for the student's function).
* :func:`own_function` accepts a student function only when its code was compiled from one of the
  submission's own files (through the wrappers of ``jax.jit``, ``functools.wraps`` and the like), so a module
  cannot offer a library routine or a kit object in place of its function.

None of this is a wall on its own: CPython has attribute reads that are not audited (``__globals__``,
``__closure__``, ``__subclasses__``, ``f_back``). They are closed before the code runs, by the policy for
submitted code (:mod:`grader.engine.code_policy`), which refuses reflection outright; the guard is the second
layer, and the kernel's confinement (:mod:`grader.engine.confine`) keeps other scores safe whatever happens here.
"""

from __future__ import annotations

import sys
import types

# The kit modules the given code imports itself: the data loaders (`from grader.data.datasets import load_digits` in
# the released exercise files) and the library versions of the other sections' functions (the nbgrader notebooks'
# `from grader.engine.trusted import sgd`), with the errors the loaders raise (`grader.errors`). Student code may
# import these again, as fresh copies (the driver's are hidden); calling a trusted function from a student
# function is a forbidden shortcut all the same (`grader.*`).
STUDENT_IMPORTABLE = ("grader", "grader.data", "grader.data.datasets", "grader.data.idx", "grader.engine",
                      "grader.engine.cache_dir", "grader.engine.trusted", "grader.errors")

_FRAME_ATTRIBUTES = {"tb_frame", "gi_frame", "cr_frame", "ag_frame"}
_FRAME_EVENTS = {"sys._getframe": "frames", "sys._getframemodulename": "frames", "sys._current_frames": "frames",
                 "sys._current_exceptions": "frames"}
# Standard-library helpers that hand frames to their caller: refused to the submission as sys._getframe is.
# (Others call sys._getframe for their own use, e.g. typing and collections reading the caller's module name.)
_FRAME_HELPERS = {("inspect", "currentframe"), ("inspect", "stack"), ("inspect", "trace"),
                  ("inspect", "getouterframes"), ("inspect", "getinnerframes"), ("traceback", "walk_stack"),
                  ("traceback", "walk_tb"), ("logging", "<lambda>")}
# The standard library's readers of source text for tracebacks and warnings: what they open is shown, never run.
_SOURCE_READERS = {"linecache", "tokenize"}
_REFUSED_EVENTS = {
    "gc.get_objects": "the garbage collector", "gc.get_referrers": "the garbage collector",
    "gc.get_referents": "the garbage collector", "sys.settrace": "tracing", "sys.setprofile": "tracing",
    "threading.settrace": "tracing", "threading.setprofile": "tracing", "sys.addaudithook": "audit hooks",
    "_thread.start_new_thread": "threads", "function.__new__": "building functions at run time",
    "code.__new__": "building code at run time", "cpython._PySys_ClearAuditHooks": "audit hooks",
}


def _source_of(relative: str) -> str:
    """The source file a kit file belongs to: ``data/__pycache__/idx.cpython-311.pyc`` → ``data/idx.py``."""
    folder, _, name = relative.rpartition("/")
    if folder.endswith("__pycache__"):
        folder = folder[:-len("__pycache__")].rstrip("/")
        name = name.split(".")[0] + ".py"
    return f"{folder}/{name}" if folder else name


class Refused(RuntimeError):
    """Raised into student code that reached for something the guard refuses."""


class Guard:
    """Decides whose code raised an audit event; refuses the submission's reflection; counts what it refused."""

    def __init__(self, student_dir: str, kit_dir: str):
        self.student_dir = student_dir.rstrip("/") + "/"
        self.kit_dir = kit_dir.rstrip("/") + "/"
        self.refused: list[str] = []
        self._busy = False
        self._importable = {"/".join([*m.split(".")[1:], name]).lstrip("/")
                            for m in STUDENT_IMPORTABLE for name in ("__init__.py",)} | \
                           {"/".join(m.split(".")[1:]) + ".py" for m in STUDENT_IMPORTABLE if "." in m}

    def _owner(self, frame) -> str:
        filename = frame.f_code.co_filename
        if filename.startswith(self.student_dir):
            return "student"
        if filename.startswith(self.kit_dir):
            return "kit"
        return ""

    def _students_line(self, frame) -> str | None:
        """``file:line`` of the submission's code when it is the nearest kit-or-submission frame from ``frame``
        outwards, else None."""
        while frame is not None:
            owner = self._owner(frame)
            if owner == "student":
                return f"{frame.f_code.co_filename[len(self.student_dir):]}:{frame.f_lineno}"
            if owner == "kit":
                return None
            frame = frame.f_back
        return None

    def _frames_line(self, frame) -> str | None:
        """For an event that yields a frame: the submission's ``file:line`` when its code raised it directly, or
        called a standard-library helper that hands the frame on (``inspect.currentframe``) itself. A helper a
        library calls for its own use (JAX walking a traceback to filter it) goes on."""
        if self._owner(frame) == "student":
            return self._students_line(frame)
        module = frame.f_globals.get("__name__", "")
        if (module, frame.f_code.co_name) in _FRAME_HELPERS and frame.f_back is not None \
                and self._owner(frame.f_back) == "student":
            return self._students_line(frame.f_back)
        return None

    def _what(self, event: str, args: tuple) -> tuple[str, bool] | None:
        """What the event reaches for, and whether it yields frames, when it is one the guard refuses."""
        if event in _FRAME_EVENTS:
            return _FRAME_EVENTS[event], True
        if event == "object.__getattr__" and len(args) > 1 and args[1] in _FRAME_ATTRIBUTES:
            return "frames", True
        if event == "object.__setattr__" and len(args) > 1 and args[1] == "__code__":
            return "rebinding a function's code", False
        if event in _REFUSED_EVENTS:
            return _REFUSED_EVENTS[event], False
        if event.startswith("ctypes."):
            return "ctypes", False
        if event == "import" and args:
            module = str(args[0])
            top = module.split(".")[0]
            if (top == "grader" and module not in STUDENT_IMPORTABLE) or top == "solutions":
                return f"the grading kit ({module})", False
        if event == "open" and args and isinstance(args[0], str) and args[0].startswith(self.kit_dir) \
                and _source_of(args[0][len(self.kit_dir):]) not in self._importable:
            return f"the grading kit ({args[0][len(self.kit_dir):]})", False  # importlib raises no import event
        return None

    def audit(self, event: str, args: tuple) -> None:
        if self._busy:
            return
        found = self._what(event, args)
        if found is None:
            return
        what, yields_frames = found
        self._busy = True
        try:
            frame = sys._getframe(1)  # the Python code that raised the event
            if event == "open" and frame.f_globals.get("__name__") in _SOURCE_READERS:
                return  # a traceback being formatted reads the kit's source lines: text, no code, no secret
            where = self._frames_line(frame) if yields_frames else self._students_line(frame)
        finally:
            self._busy = False
        if where is None:
            return
        message = f"{where}: reaches for {what} ({event}), which graded code may not do"
        if len(self.refused) < 50 and message not in self.refused:
            self.refused.append(message)
        raise Refused(message)


def install(student_dir: str, kit_dir: str) -> Guard:
    """Add the refusing audit hook for the submission in ``student_dir``; ``kit_dir`` is the kit's package
    folder the child imported its driver from."""
    guard = Guard(student_dir, kit_dir)
    sys.addaudithook(guard.audit)
    return guard


class _Guarded(types.ModuleType):
    """A loaded module whose attributes the submission's code may not set or delete (``jax.jit = …``,
    ``setattr(optax, "sgd", …)``): the probes call these libraries, so a patch would stand in for the student's
    function. Only a direct assignment by the submission's code is refused; the import system and the libraries
    themselves go on as before."""

    def __setattr__(self, name, value):
        _refuse_patch(self, name, sys._getframe(1))
        super().__setattr__(name, value)

    def __delattr__(self, name):
        _refuse_patch(self, name, sys._getframe(1))
        super().__delattr__(name)


_patch_guard: list[Guard] = []


def _refuse_patch(module, name: str, frame) -> None:
    for guard in _patch_guard:
        if frame is not None and guard._owner(frame) == "student":
            message = (f"{frame.f_code.co_filename[len(guard.student_dir):]}:{frame.f_lineno}: changes "
                       f"{module.__name__}.{name}, which graded code may not do")
            if len(guard.refused) < 50 and message not in guard.refused:
                guard.refused.append(message)
            raise Refused(message)


def protect_modules(guard: Guard) -> None:
    """Refuse the submission's code any change to the modules loaded now (the libraries the probes call)."""
    _patch_guard[:] = [guard]
    for module in list(sys.modules.values()):
        if type(module) is types.ModuleType:
            try:
                module.__class__ = _Guarded
            except TypeError:
                pass


def hide_kit() -> None:
    """Remove the kit's modules and the instructor's solutions from ``sys.modules`` (the driver keeps its own
    references to what it uses)."""
    for name in list(sys.modules):
        top = name.split(".")[0]
        if top in ("grader", "solutions"):
            del sys.modules[name]


def own_function(fn, student_dir: str):
    """The plain function behind ``fn`` (unwrapping ``jax.jit``, ``functools.wraps``, ``custom_jvp``) when its
    code was compiled from a file of the submission in ``student_dir``; None otherwise."""
    prefix = student_dir.rstrip("/") + "/"
    seen = 0
    while not isinstance(fn, types.FunctionType) and seen < 8:
        inner = getattr(fn, "__wrapped__", None) or getattr(fn, "fun", None)
        if inner is None or inner is fn:
            return None
        fn, seen = inner, seen + 1
    if not isinstance(fn, types.FunctionType):
        return None
    return fn if fn.__code__.co_filename.startswith(prefix) else None

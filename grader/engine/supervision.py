"""Child supervision: one confined child started (its command, environment and resource limits), its frames read
and checked against the protocol until it finishes, dies, overruns its time or breaks the protocol, and then ended
with its whole tree (:mod:`grader.engine.reaping`). What it reports lands in the lane's observations; a module it
could not import, in the lane's ``broken`` modules. The hidden probes' seeds go to it only when the
:class:`~grader.engine.seed_gate.SeedGate` opens, and what it reports for review from then on is kept from the
student's report (:data:`~grader.engine.sandbox_run.HIDDEN_NOTE`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from grader import course_file as course
from grader import rubric
from grader.data import datasets
from grader.engine import compile_cache, confine, reaping, wire
from grader.engine.sandbox_run import HIDDEN_NOTE, Limits, SandboxError, failed
from grader.engine.seed_gate import SeedGate
from grader.observations import Observations

PASS_THROUGH_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


class Protocol:
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


def _environment(home: Path, cache: Path | None) -> dict[str, str]:
    """The child's whole environment: nothing of the parent's but a few CPU settings, its home as ``HOME`` and
    ``TMPDIR``, and the compilation cache's settings."""
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
    """How the child ended, for a message: "was killed by SIGKILL", "exited with status 3 (...)"."""
    if returncode is None:
        return "stopped"
    if returncode < 0:
        sig = signal.Signals(-returncode).name if -returncode in signal.Signals._value2member_map_ else -returncode
        hint = " (out of memory?)" if sig in ("SIGSEGV", "SIGABRT", "SIGBUS") else ""
        return f"was killed by {sig}{hint}"
    return f"exited with status {returncode} (os._exit, or a crash)"


def _stage_limit_text(stage: str, limits: Limits) -> str:
    """The time limit of ``stage`` (the imports, or one probe), for a message."""
    if stage == "import":
        return f"the {limits.import_seconds:g} s the imports may take"
    return f"{limits.probe_seconds:g} s"


def out_of_budget(limits: Limits) -> str:
    """Why a probe was stopped or not run: the submission's time budget ran out."""
    return (f"the submission's time budget of {limits.time_budget:g} s ran out (every import, check and restart "
            "counts; an endless loop or a slow import elsewhere?)")


@dataclasses.dataclass
class ChildState:
    """Where a child is, as its frames tell: ``stage`` ("import", "loaded", "probe", "between" or "done"),
    ``current`` (the module it imports or the probe it runs, if any), ``deadline`` (the ``time.monotonic()`` by
    which that must end) and whether it has ``loaded`` the submission."""

    stage: str
    current: str | None
    deadline: float
    loaded: bool = False

    def fail(self, message: str, broken: dict[str, str], observations: dict[str, Observations]) -> None:
        """Record ``message`` against what the child was doing: the module it imported, or the probe it ran."""
        if self.stage == "import" and self.current:
            broken[self.current] = f"importing {self.current}.py {message}"
        elif self.stage == "probe" and self.current:
            what = f"training {self.current}" if self.current not in rubric.STUDENT_FUNCTIONS else \
                f"checking {self.current}"
            observations[self.current] = failed(f"{what} {message}")


class Child:
    """One confined child: started, read until it finishes, dies or overruns, then ended with its tree."""

    def __init__(self, tmp: Path, home: Path, attempt: str, policy: confine.Policy, limits: Limits,
                 data: datasets.DataSpec, budget: wire.Budget, cache: Path | None, seeds: dict[str, int],
                 user: int | None = None, gate: SeedGate | None = None, lane: int = 0,
                 known_notes: list[str] = (), ends_at: float = float("inf")):
        self.tmp, self.home, self.attempt, self.policy, self.user = tmp, home, attempt, policy, user
        self.limits, self.data, self.budget, self.cache, self.seeds = limits, data, budget, cache, seeds
        self.gate, self.lane, self.ends_at = gate or SeedGate(1), lane, ends_at
        self.shortcuts: dict[str, list[str]] = {}
        self.notes: list[str] = []
        self.seed_write: int | None = None
        self.known_notes = list(known_notes)  # the notes of the lane's earlier children
        # Once seeds may be out (the gate is open): the notes accepted before; every later note is what the code did
        # when it could know a hidden input.
        self.before_seeds: list[str] | None = None
        self.submission_prefix = f"{tmp / 'submission'}/"  # messages name files relative to the submission

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
        with open(self.out_path, "wb") as out_file:
            proc = reaping.start(lambda: subprocess.Popen(
                command, cwd=self.tmp / "submission", env=_environment(self.home, self.cache), stdin=subprocess.DEVNULL,
                stdout=out_file, stderr=subprocess.STDOUT, pass_fds=(write_fd, key_read, seed_read),
                start_new_session=True, preexec_fn=preexec, **confine.as_user(self.user)))
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
        """Start the child on ``probes`` and read its frames until it finishes, dies, overruns or breaks the
        protocol: each probe's observations go into ``observations``, each module it could not import into
        ``broken``; the child and its tree are ended whatever happened."""
        proc, read_fd, key = self._start(probes, broken)
        reader, protocol = wire.FrameReader(key), Protocol(probes)
        state = ChildState("import", None, time.monotonic() + self.limits.import_seconds)
        try:
            while True:
                timeout = min(state.deadline, self.ends_at) - time.monotonic()
                if timeout <= 0:
                    self._overran(state, probes, broken, observations)
                    break
                chunk = self._read(proc, read_fd, min(timeout, 0.25))
                if chunk is None:
                    continue
                if not chunk:  # the child closed the pipe or died: finished, or killed
                    self._ended(proc, state, broken, observations)
                    break
                try:
                    for kind, payload in reader.feed(chunk):
                        name = protocol.accept(kind, payload)
                        self._handle(kind, payload, name, state, observations, probes, progress)
                except wire.WireError as exc:
                    self._rejected(exc, state, probes, broken, observations)
                    break
        finally:
            os.close(read_fd)
            if self.seed_write is not None:
                os.close(self.seed_write)
                self.seed_write = None
            reaping.end_tree(proc, sweep=not self.policy.layers.namespaces)
        if not state.loaded and state.stage == "import" and state.current is None:
            # died before importing anything: nothing more to learn by retrying
            text = self.out_path.read_bytes()[-2000:].decode(errors="replace")
            for p in probes:
                observations.setdefault(p, failed(f"the grading process {_describe_death(proc.returncode)} "
                                                  f"before loading the submission: {text[-500:]}"))

    @staticmethod
    def _read(proc: subprocess.Popen, read_fd: int, timeout: float) -> bytes | None:
        """What the child sent within ``timeout`` seconds: None when nothing yet, empty at the end of the stream."""
        ready, _, _ = select.select([read_fd], [], [], timeout)
        if ready:
            return os.read(read_fd, 1 << 20)
        if proc.poll() is not None:
            # The child is gone, though a descendant may still hold the pipe open: take what is there.
            return os.read(read_fd, 1 << 20) if select.select([read_fd], [], [], 0)[0] else b""
        return None

    def _overran(self, state: ChildState, probes: list[str], broken: dict[str, str],
                 observations: dict[str, Observations]) -> None:
        """The import, the probe or the submission's time budget ran out."""
        if state.deadline <= self.ends_at:
            state.fail(f"did not finish within {_stage_limit_text(state.stage, self.limits)} (an endless loop?)",
                       broken, observations)
        else:  # the submission's budget: what this child was doing, and everything it had left
            state.fail(f"was stopped: {out_of_budget(self.limits)}", broken, observations)
            for p in probes:
                observations.setdefault(p, failed(f"not checked: {out_of_budget(self.limits)}"))

    def _ended(self, proc: subprocess.Popen, state: ChildState, broken: dict[str, str],
               observations: dict[str, Observations]) -> None:
        """The stream ended: the child finished, or died (what it was doing fails). A child that could not be
        confined is the sandbox's failure, not the submission's."""
        proc.wait(timeout=30)
        if proc.returncode == confine.EXIT_CONFINEMENT and not state.loaded:
            raise SandboxError("the sandbox could not confine the grading process: "
                               + self.out_path.read_bytes()[-2000:].decode(errors="replace"))
        if state.stage != "done":
            state.fail(f"stopped: the grading process {_describe_death(proc.returncode)}", broken, observations)

    def _rejected(self, exc: wire.WireError, state: ChildState, probes: list[str], broken: dict[str, str],
                  observations: dict[str, Observations]) -> None:
        """A frame the parent did not accept: a note for review, and what the child was doing (or, between
        probes, everything it had left) fails."""
        message = f"sent a result the grader did not accept ({exc})"
        self.notes.append(f"the grading process {message}")
        if state.stage in ("import", "probe") and state.current:
            state.fail(message, broken, observations)
        else:
            for p in probes:
                observations.setdefault(p, failed(f"not checked: the grading process {message}"))

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


    def _handle(self, kind: str, payload: bytes, name: str | None, state: ChildState,
                observations: dict[str, Observations], probes: list[str], progress) -> None:
        """Move ``state`` on by one accepted frame (``name``: the probe it concerns)."""
        if kind == "I":  # the next module: the imports share one limit (the child's start set the deadline)
            state.stage, state.current = "import", payload.decode(errors="replace")
        elif kind == "L":
            state.stage, state.current, state.loaded = "loaded", None, True
        elif kind == "H":
            self._send_seeds(probes)
            state.deadline = time.monotonic() + self.limits.import_seconds
        elif kind == "T":
            self._take_tripwire(payload)
        elif kind == "S":
            if progress:
                progress("probe", name)
            state.stage, state.current = "probe", name
            state.deadline = time.monotonic() + self.limits.probe_seconds
        else:  # kind == "R"
            observations[name] = self._result(payload, name)
            state.stage = "done" if all(p in observations for p in probes) else "between"
            state.current = name

    def _send_seeds(self, probes: list[str]) -> None:
        """Every public probe of this child has its result: only now do the seeds leave the parent, and only once
        every other lane's public probes have theirs."""
        self.gate.public_done(self.lane)
        self.gate.wait()
        self._seeds_may_be_out()
        fd, self.seed_write = self.seed_write, None
        try:
            wire.send_seeds(fd, {p: self.seeds[p] for p in probes if p in self.seeds})
        except OSError:  # the child is gone: its end of stream reports it
            pass

    def _take_tripwire(self, payload: bytes) -> None:
        """The tripwire's record (it replaces the last one): the forbidden routines each student function called,
        and notes for review."""
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

    def _result(self, payload: bytes, name: str) -> Observations:
        """The observations of probe ``name`` in a result frame, or a failure saying why they could not be read."""
        try:
            got, obs = wire.decode_observations(payload, self.budget)
            if got != name:
                raise wire.WireError(f"the result of {got!r} where {name!r} was expected")
            obs.errors = {k: v.replace(self.submission_prefix, "") for k, v in obs.errors.items()}
        except wire.WireError as exc:
            obs = failed(f"the result of {name} could not be read ({exc})")
        return obs

"""Run the rubric: probe the student's functions, probe the reference, judge, and collect a :class:`Result`.

``observe`` is the half that runs untrusted code; ``judge`` only compares plain arrays. ``grade_submission``
runs ``observe`` in a sandboxed child (for ``grade``, ``grade batch`` and ``pytest exercises/``) while this
process observes the reference; the nbgrader cells and the kit's own tests call ``observe`` directly.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from . import datasets, manifest, rubric, shortcuts, submission, trusted, wire
from .checks import hidden as hidden_checks
from .checks.common import Observations, ProbeFailed, describe_exception
from .options import CannotRun
from .result import CheckResult, Result
from .secret import Secret

if TYPE_CHECKING:
    from .sandbox import SandboxRun

KIT_SOLUTIONS = Path(__file__).resolve().parent.parent / "solutions"


def observe(functions: dict[str, Callable], errors: dict[str, str], probes: Iterable[str] | None = None,
            data: datasets.DataSpec = datasets.DIGITS, seeds: dict[str, int] | None = None) -> dict[str, Observations]:
    """Run each probe on the student's functions; a probe whose functions are unavailable records why.

    ``probes`` may name figure and hidden probes too (``rubric.ALL_PROBES``); trainings that need a dataset use
    ``data``; a hidden probe draws its inputs from its seed in ``seeds``.
    """
    seeds = seeds or {}
    out = {}
    for name in (rubric.PROBES if probes is None else probes):
        probe = rubric.ALL_PROBES[name]
        obs = Observations()
        missing = [f for f in probe.uses if f not in functions]
        if probe.hidden and name not in seeds:
            obs.fail_all(f"{name} has no seed: hidden probes run only with the instructor's secret")
        elif missing:
            f = missing[0]
            reason = errors.get(f, f"{f} is missing")
            obs.fail_all(reason if f in reason else f"{f}: {reason}")
        else:
            try:
                fns = {f: functions[f] for f in probe.uses}
                if probe.hidden:
                    obs = probe.run(fns, seed=seeds[name])
                else:
                    obs = probe.run(fns, data=data) if probe.needs_data else probe.run(fns)
            except Exception as exc:  # a probe's own guard missed something: report, never crash
                obs.fail_all(f"{name} could not be probed: {describe_exception(exc)}")
        out[name] = obs
    return out


def judge(student: dict[str, Observations], reference: dict[str, Observations],
          checks: Iterable[rubric.Check] = rubric.CHECKS, shortcuts: dict[str, str] | None = None) -> Result:
    """Judge every check on the observations; a training check that fails names its parts' failing checks.

    ``shortcuts`` maps a student function to the message of the forbidden library call it makes: each of
    that function's own checks then scores 0 with that message.
    """
    results = []
    shortcuts = shortcuts or {}
    for check in checks:
        if check.target in shortcuts:
            results.append(CheckResult(check.id, check.target, 0.0, check.points, False, shortcuts[check.target]))
            continue
        try:
            verdict = check.judge(student[check.probe], reference[check.probe], check)
            fraction, message = verdict.fraction, verdict.message
        except ProbeFailed as exc:
            fraction, message = 0.0, str(exc)
        except Exception as exc:  # output of a shape or kind no judge foresaw: fail the check, never the run
            fraction, message = 0.0, f"the output could not be judged ({describe_exception(exc)})"
        fraction = min(max(float(fraction), 0.0), 1.0)
        results.append(CheckResult(check.id, check.target, round(check.points * fraction, 4), check.points,
                                   fraction >= 1.0, message, hidden=not check.visible))
    return Result(tuple(_with_hidden_causes(_with_related_failures(results))))


def _with_hidden_causes(results: list[CheckResult]) -> list[CheckResult]:
    """A failed hidden check's message, with the cause its function's public checks show (:func:`hidden.explain`)."""
    out = []
    for r in results:
        check = rubric.BY_ID.get(r.id)
        if check is not None and check.probe in rubric.HIDDEN_PROBES and not r.passed and r.points < r.max_points \
                and r.message.startswith("on hidden inputs"):
            failed_public = [p.id for p in results if p.target == r.target and not p.hidden and not p.passed]
            r = dataclasses.replace(r, message=hidden_checks.explain(r.message, r.target, failed_public))
        out.append(r)
    return out


def _with_related_failures(results: list[CheckResult]) -> list[CheckResult]:
    failed_by_target: dict[str, list[str]] = {}
    for r in results:
        if not r.passed:
            failed_by_target.setdefault(r.target, []).append(r.id)
    out = []
    for r in results:
        check = rubric.BY_ID.get(r.id)
        if check is not None and not r.passed and check.target not in rubric.STUDENT_FUNCTIONS:
            related = [f for f in rubric.PROBES[check.probe].uses if f in failed_by_target]
            if related:
                names = ", ".join(related[:-1]) + (" and " if len(related) > 1 else "") + related[-1]
                verb = "fails" if len(related) == 1 else "fail"
                r = CheckResult(r.id, r.target, r.points, r.max_points, r.passed,
                                f"{r.message} ({names} {verb} checks of {'its' if len(related) == 1 else 'their'} "
                                "own: fix those first)")
        out.append(r)
    return out


class BrokenReference(CannotRun, RuntimeError):
    """The reference does not load, or raises on a probe: the grader's fault, never points the student loses.
    The ``grade`` command reports it on one line and exits with status 2."""


def reference_functions(reference: str | Path | None = None) -> dict[str, Callable]:
    """The reference: a solutions directory, ``"library"`` for the trusted library, or by default the kit's
    ``solutions/`` when present and the library otherwise. :class:`BrokenReference` when it does not load."""
    if reference == "library" or (reference is None and not KIT_SOLUTIONS.is_dir()):
        return dict(trusted.FUNCTIONS)
    functions, errors = submission.load_functions(reference or KIT_SOLUTIONS)
    if errors:
        details = "; ".join(f"{name}: {message}" for name, message in errors.items())
        raise BrokenReference(f"the reference in {reference or KIT_SOLUTIONS} does not load: {details}")
    return functions


def describe_reference(reference: str | Path | None) -> str:
    path = _reference_path(reference)
    return "the trusted library functions" if path is None else str(path)


def sound_reference(observations: dict[str, Observations], reference: str | Path | None) -> dict[str, Observations]:
    """``observations`` of the reference, checked before anything is judged against them: a probe the reference
    failed (it raised, or returned what cannot be recorded) raises :class:`BrokenReference` naming the reference
    and the probe, instead of failing the student's checks that compare with it."""
    failed = {name: obs.errors for name, obs in observations.items() if obs.errors}
    if not failed:
        return observations
    name, errors = next(iter(failed.items()))
    key, message = next(iter(errors.items()))
    where = "" if key == "*" else f" ({key})"
    more = f"; {len(failed) - 1} more probes failed too" if len(failed) > 1 else ""
    raise BrokenReference(f"the reference ({describe_reference(reference)}) failed on the probe {name}{where}: "
                          f"{message}{more}")


_reference_cache: dict[str, dict[str, Observations]] = {}


def _reference_path(reference: str | Path | None) -> Path | None:
    if reference == "library" or (reference is None and not KIT_SOLUTIONS.is_dir()):
        return None
    return Path(reference or KIT_SOLUTIONS)


def _disk_cache(reference: str | Path | None, data: datasets.DataSpec) -> Path | None:
    """Where the reference's observations are kept between runs, keyed by everything that determines them:
    the grader's sources, the reference's sources, the library versions and the dataset (its name and the
    checksums its files were verified against). ``DL_BASICS_NO_CACHE=1`` disables."""
    if os.environ.get("DL_BASICS_NO_CACHE"):
        return None
    import importlib.metadata as md
    import platform
    h = hashlib.sha256()
    ref = _reference_path(reference)
    for root in [Path(__file__).resolve().parent] + ([ref] if ref else []):
        for path in sorted(root.rglob("*.py")):
            if "__pycache__" not in path.parts:
                h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    for package in ("jax", "jaxlib", "numpy", "optax"):
        h.update(f"{package}={md.version(package)}".encode())
    h.update(f"{sys.version} {platform.machine()} {'library' if ref is None else 'dir'}".encode())
    h.update(data.identity().encode())
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dl-basics-grader" / f"reference-{h.hexdigest()[:24]}"


def _read_cached(folder: Path, name: str) -> Observations | None:
    """A cached reference observation, if its bytes still have the SHA-256 written beside them when it was
    stored; anything else (missing, altered, unreadable) is ignored and recomputed."""
    try:
        payload = (folder / f"{name}.npz").read_bytes()
        digest = (folder / f"{name}.sha256").read_text().strip()
        if hashlib.sha256(payload).hexdigest() != digest:
            return None
        return wire.decode_observations(payload)[1]
    except (OSError, wire.WireError):
        return None


def _write_cached(folder: Path, name: str, obs: Observations) -> None:
    """Store an observation and its digest, each written whole (a temporary file, then a rename)."""
    payload = wire.encode_observations(name, obs)
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        for suffix, content in ((".npz", payload), (".sha256", hashlib.sha256(payload).hexdigest().encode())):
            tmp = folder / f".{name}{suffix}.{os.getpid()}.{threading.get_ident()}.tmp"
            tmp.write_bytes(content)
            os.replace(tmp, folder / f"{name}{suffix}")
    except OSError:
        pass


def reference_observations(reference: str | Path | None = None, probes: Iterable[str] | None = None,
                           data: datasets.DataSpec = datasets.DIGITS,
                           seeds: dict[str, int] | None = None) -> dict[str, Observations]:
    """Observations of the reference: computed once per process, and kept on disk between processes.

    A hidden probe's are kept under its name and seed (``seeds``), one set per student.
    Only trusted code writes the disk cache (this process, which runs no student code); the sandboxed
    children can neither read nor write it (:mod:`grader.confine`)."""
    seeds = seeds or {}
    probes = list(rubric.PROBES if probes is None else probes)
    stored = {p: f"{p}-{seeds[p]}" if p in seeds else p for p in probes}  # the cache's name of each probe
    cached = _reference_cache.setdefault(f"{reference}|{data.identity()}", {})
    wanted = [p for p in probes if stored[p] not in cached]
    folder = _disk_cache(reference, data) if wanted else None
    for name in list(wanted) if folder is not None else []:
        found = _read_cached(folder, stored[name])
        if found is not None:
            cached[stored[name]] = found
            wanted.remove(name)
    if wanted:
        fresh = observe(reference_functions(reference), {}, wanted, data, seeds)
        for name, obs in fresh.items():
            cached[stored[name]] = obs
            if folder is not None and not obs.errors:
                _write_cached(folder, stored[name], obs)
    return {p: cached[stored[p]] for p in probes}


def grade_submission(directory: str | Path, reference: str | Path | None = None, limits=None,
                     progress: Callable[[str, str], None] | None = None, probes: Iterable[str] | None = None,
                     data: datasets.DataSpec = datasets.DIGITS, require_isolation: bool = False,
                     hidden: HiddenInputs | None = None) -> tuple[Result, SandboxRun]:
    """Grade a submission safely: probes in a confined child, the reference meanwhile in this process.

    ``probes`` may include figure probes (``rubric.FIGURE_PROBES``); they are observed, not judged. ``data``
    must be resolved (:meth:`~grader.datasets.DataSpec.resolve`) so the child finds the files.
    ``require_isolation`` refuses to grade (:class:`~grader.sandbox.SandboxError`) without every layer.
    ``hidden`` (the instructor's secret and the student's id) adds the hidden probes of the graded functions;
    without it their checks are reported as not run. A reference that does not load or fails a probe raises
    :class:`BrokenReference` (see :func:`sound_reference`).
    """
    from . import sandbox

    probes = list(rubric.PROBES) if probes is None else list(probes)
    seeds = hidden.seeds(probes) if hidden else {}
    probes += list(seeds)
    box: dict = {}

    def work():
        try:
            box["run"] = sandbox.run_probes(directory, probes, limits or sandbox.Limits(), progress, data,
                                            require_isolation, seeds)
        except BaseException as exc:  # surfaced below, in this thread
            box["error"] = exc

    thread = threading.Thread(target=work, name="sandbox", daemon=True)
    thread.start()
    try:
        reference_obs = sound_reference(reference_observations(reference, probes, data, seeds), reference)
    except BrokenReference:
        thread.join()  # the child finishes (and is reaped) before the grader stops
        raise
    prepare_judges(probes, data)
    thread.join()
    if "error" in box:
        raise box["error"]
    run = box["run"]
    return judge_submission(directory, run, reference_obs, probes, data, hidden), run


def prepare_judges(probes: Iterable[str], data: datasets.DataSpec = datasets.DIGITS) -> None:
    """Compute what the judges of ``probes`` need that no student decides (the classification set's test split,
    the weight-decay data, optax's path), so it is ready before the child is done (see :attr:`rubric.Probe.prepare`)."""
    for name in probes:
        prepare = rubric.ALL_PROBES[name].prepare
        if prepare is not None:
            prepare(data)


def run_time_shortcut_message(function: str, names: list[str]) -> str:
    return (f"{function} called {', '.join(names)} while it was checked (seen at run time), which solves the "
            "exercise outright or reaches into the grading kit: write it yourself with jax.numpy operations "
            "(none of its checks score while it does)")


def _did_not_load(function: str, run: SandboxRun) -> bool:
    """The child could not load ``function`` at all (a syntax error, say): the loader's message, which names
    the line, is the one to show, rather than the static scan's "could not be read"."""
    obs = run.observations.get(function)
    module = rubric.STUDENT_FUNCTIONS.get(function)
    return bool(obs is not None and module and f"{module}.py " in obs.errors.get("*", ""))


def judge_submission(directory: str | Path, run: SandboxRun, reference_obs: dict[str, Observations],
                     probes: Iterable[str] | None = None, data: datasets.DataSpec = datasets.DIGITS,
                     hidden: HiddenInputs | None = None) -> Result:
    """Judge a sandbox run of a submission folder: its forbidden shortcuts are those read from its source
    and those the run-time tripwire saw; the result says which isolation layers were in force. With ``hidden``
    the hidden checks of the graded functions are judged; without it they are listed as not run."""
    probes = list(rubric.PROBES) if probes is None else list(probes)
    seeds = hidden.seeds(probes) if hidden else {}
    checks = rubric.with_seeds(rubric.checks_for_data(data, [c for c in rubric.CHECKS if c.probe in probes]), seeds)
    not_run = tuple(c.id for c in rubric.HIDDEN_CHECKS if c.probe not in seeds and c.target in probes)
    found = {f: m for f, m in shortcuts.scan_directory(directory).items() if not _did_not_load(f, run)}
    for function, names in run.shortcuts.items():
        if names and function not in found:
            found[function] = run_time_shortcut_message(function, names)
    result = judge(run.observations, reference_obs, checks, found)
    review = tuple(dict.fromkeys([*shortcuts.review_flags(directory), *run.notes]))
    return dataclasses.replace(result, isolation=run.layers.to_json(), review=review, not_run=not_run,
                               environment=manifest.environment(data, hidden.secret if hidden else None))


@dataclasses.dataclass(frozen=True)
class HiddenInputs:
    """The instructor's secret and the id of the student graded: what the hidden probes' seeds come from."""

    secret: Secret
    student: str

    def seeds(self, probes: Iterable[str]) -> dict[str, int]:
        """The seeds of the hidden probes of the functions whose own probe (named for the function) is in ``probes``:
        a function's hidden check runs beside its public checks, not for a training that merely uses it."""
        wanted = [p.name for p in rubric.HIDDEN_PROBES.values() if p.uses[0] in probes]
        return self.secret.seeds(self.student, wanted)

"""The hidden probes' seeds and inputs against hostile submissions: the real ``grade batch --secret-file`` on a
throwaway copy of the kit (tests/attacks/harness.py).

A hidden check is worth something only while the student cannot learn its inputs. Its seed, drawn from the
instructor's secret and the student's id, reaches the sandboxed child through a pipe of its own and only after the
public probes (never its command line); what the student's code does during a hidden probe reaches no report (a
failed hidden check names the properties that fail, never an error or a note of the student's code). One batch,
``--only relu`` (relu's hidden probe), four students:

- ``argv``: relu raises ``NotImplementedError(" ".join(sys.argv))``: the child's command line into its report;
- ``procs``: relu reads ``/proc/self/cmdline`` and its parent's (where ``/proc`` shows it) and puts every number of
  six digits or more into its error message;
- ``marker``: relu raises with a marker of its input's shape and sum, and raises a review note only for shapes the
  public probe never uses, on a line of its own;
- ``named``: relu raises a review note under a file name made of that marker.

Meanwhile a thread records the command line of every process of the run (:class:`harness.CommandLines`). The
batch runs with ``--accept-code`` (the policy for submitted code would refuse this code before it ran: the seeds
must stay out of reach of code an instructor accepted) and, where the children can run as a user of their own,
with that layer only (``DL_BASICS_CONFINE=user``): the parent's command line is then readable from the child, the
weakest wall the kit accepts with a secret.

Then one submission probed by two children side by side (``grade`` takes two on an idle 2-core machine; the test
asks the sandbox for them directly, as the command line cannot): the hidden probe in one child must not run while
the other child still probes public inputs, or the two (one user) could pass a hidden input between them.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import shutil
from pathlib import Path

import pytest

from grader import rubric
from grader.engine import confine, sandbox
from grader.engine.secret import Secret

from . import caches
from .attacks import harness, snippets
from .attacks.harness import RunDirs

pytestmark = pytest.mark.end_to_end  # every test here runs the kit's commands in real subprocesses

ONLY = "relu"  # relu's probe, the MLP training, and relu's hidden probe
STUDENTS = {"argv": snippets.SEED_ARGV, "procs": snippets.SEED_PROC, "marker": snippets.SEED_MARKER,
            "named": snippets.SEED_NAMED}


@dataclasses.dataclass
class SeedRun:
    root: Path
    run: harness.Run
    key: Secret
    outputs: dict[str, str]            # every file the batch wrote (relative name → text), stdout and stderr
    reports: dict[str, dict | None]
    command_lines: dict[int, bytes]    # every process of the run seen while it ran
    layers: str
    marker_line: int                   # the line of the marker's hidden-only review note in its mlp.py

    def seeds(self, student: str) -> dict[str, int]:
        """Every hidden probe's seed for ``student`` (a superset of those this run used)."""
        return self.key.seeds(student, rubric.HIDDEN_PROBES)

    def message(self, student: str, check: str) -> str:
        report = self.reports.get(student)
        assert report, f"{student} has no report: {self.run.brief()}"
        return next(c["message"] for c in report["checks"] if c["id"] == check)


@pytest.fixture(scope="module")
def seed_run(tmp_path_factory):
    root, made = harness.scratch_root("seeds", Path(tmp_path_factory.mktemp("seeds")))
    token = harness.new_token()
    try:
        kit = harness.copy_kit(root / "kit")
        dirs = RunDirs(root / "run").create()
        caches.seed(dirs.cache)
        secret_text = secrets.token_hex(32)
        secret_file = root / "instructor" / "secret"
        secret_file.parent.mkdir()
        secret_file.write_text(secret_text + "\n")
        secret_file.chmod(0o600)
        classroom, out = dirs.root / "class", dirs.root / "out"
        for student, body in STUDENTS.items():
            harness.build_submission(classroom / student, kit / "solutions", bodies={"relu": body})
        user_only = confine.child_user_works()
        env = {"DL_BASICS_CONFINE": "user"} if user_only else {}
        with harness.CommandLines([str(dirs.root), token]) as watcher:
            run = harness.run_grade(kit, dirs, ["batch", str(classroom), "--jobs", "2", "--out", str(out), "--only",
                                                ONLY, "--secret-file", str(secret_file), "--quiet", "--accept-code"],
                                    timeout=420, markers=[token], env=env)
        harness.assert_imported_copy(run, kit)
        outputs = {"(stdout)": run.stdout, "(stderr)": run.stderr}
        for path in sorted(out.rglob("*")) if out.is_dir() else []:
            if path.is_file():
                outputs[path.relative_to(out).as_posix()] = path.read_bytes().decode(errors="replace")
        reports = harness.read_reports(out, STUDENTS)
        layers = next((r["isolation"]["summary"] for r in reports.values() if r and r.get("isolation")), "unknown")
        line = snippets.hidden_marker_line((classroom / "marker" / "mlp.py").read_text())
        print(f"\nseed batch: {run.seconds:.1f} s; layers: {layers}; {len(watcher.seen)} processes seen")
        yield SeedRun(root, run, Secret(secret_text.encode()), outputs, reports, dict(watcher.seen), layers, line)
    finally:
        harness.end_processes([token, str(root)])
        if made:
            shutil.rmtree(root, ignore_errors=True)


def _found_in(outputs: dict[str, str], needles: list[str]) -> list[str]:
    return [f"{needle!r} in {name}" for name, text in outputs.items() for needle in needles if needle in text]


def test_seed_batch_ran(seed_run):
    """The batch graded every student, hidden checks included (the seeds were in use)."""
    assert seed_run.run.status == 0 and not seed_run.run.timed_out, seed_run.run.brief()
    for student, report in seed_run.reports.items():
        assert report is not None, f"{student} has no report: {seed_run.run.brief()}"
        assert any(c["id"] == "relu.hidden" and c.get("hidden") for c in report["checks"]), f"{student}: no relu.hidden"
    assert not seed_run.run.survivors, seed_run.run.survivors


def test_no_seed_in_any_report(seed_run):
    """relu puts the child's ``sys.argv``, and every long number of its own and its parent's ``/proc/<pid>/cmdline``,
    into its error message: no hidden probe's seed appears in any report (JSON, Markdown, gradebook, class
    summary) or in the batch's output: the seeds are in no command line a child can read."""
    argv = seed_run.message("argv", "relu.values")
    assert "hidden.relu" in argv, f"the child's argv did not reach relu's message (the attack did not run): {argv}"
    procs = seed_run.message("procs", "relu.values")
    assert "self=ok" in procs, f"the child's own command line was not read (the attack did not run): {procs}"
    print(f"\nprocs reports: {procs[:200]}")
    leaks = []
    for student in STUDENTS:
        leaks += _found_in(seed_run.outputs, [str(seed) for seed in seed_run.seeds(student).values()])
    assert not leaks, f"hidden probes' seeds in the reports (layers: {seed_run.layers}): {leaks[:6]}"


def test_no_seed_in_child_command_lines(seed_run):
    """While the batch ran, the command line of each of its processes (the sandboxed children among them), as any
    process reading ``/proc/<pid>/cmdline`` sees it, held no seed."""
    children = {pid: c for pid, c in seed_run.command_lines.items() if b"grader.engine.child" in c}
    assert children, (f"no sandboxed child was seen while the batch ran ({len(seed_run.command_lines)} processes "
                      "seen): nothing to check")
    seeds = {str(s).encode() for student in STUDENTS for s in seed_run.seeds(student).values()}
    found = [(pid, seed.decode()) for pid, cmdline in seed_run.command_lines.items() for seed in seeds
             if seed in cmdline]
    assert not found, f"seeds in command lines: {found[:6]}"


def _relu_markers(seed: int | None) -> list[str]:
    """The markers relu's probe (the hidden one with ``seed``) makes SEED_MARKER raise, computed here with the
    same operations the child runs."""
    import jax.numpy as jnp

    from grader.checks import relu

    x = relu.PUBLIC if seed is None else relu.hidden(seed)

    def marker(a, concrete: bool) -> str:
        shape = "x".join(str(int(d)) for d in a.shape)
        total = "%.3f" % float(jnp.sum(jnp.asarray(a).astype(jnp.float32))) if concrete else "traced"
        return f"MKR-{shape}-{total}-"

    return [marker(x.values, True), marker(x.half, True), marker(x.grad_x, False), marker(x.zeros, False),
            marker(x.values, False)]


def test_hidden_probe_output_reaches_no_report(seed_run):
    """What the student's code produced during its hidden probe (its exception's message with the hidden input's
    shape and sum, a review note only hidden shapes raise, a review note under a file name made of shape and sum)
    appears in no report, gradebook or class summary; the same from the public probe may (and does: the channels
    work)."""
    from grader.checks import relu

    public = _relu_markers(None)
    values = seed_run.message("marker", "relu.values")
    assert public[0] in values, f"the public marker {public[0]} is not in relu.values' message: {values}"
    named = seed_run.reports["named"] or {}
    assert any(public[0] in note for note in named.get("review", ())), (
        f"the public marker {public[0]} is in no review note of 'named': {named.get('review')}")
    leaks = []
    for student in ("marker", "named"):
        seed = seed_run.seeds(student)["hidden.relu"]
        hidden = _relu_markers(seed)
        hidden_only = [m for m in hidden if m not in public]
        assert hidden_only, f"relu's hidden inputs for {student} are the public ones: {hidden}"
        leaks += _found_in(seed_run.outputs, hidden_only)
        if student == "marker":
            x = relu.hidden(seed)
            assert x.values.shape != (3, 4, 5) or x.zeros.shape != (5,), (
                f"relu's hidden inputs for {student} raise no hidden-only review note: {x.values.shape}")
            # the run-time note (the static scan's note of the same line, from the source, may be there)
            leaks += _found_in(seed_run.outputs, [f"mlp.py:{seed_run.marker_line}: reaches for"])
    assert not leaks, (f"what relu did on its hidden inputs reached the reports: {leaks[:6]} (public markers "
                       f"{public}); notes for review: {[(seed_run.reports[s] or {}).get('review') for s in STUDENTS]}")
    for student in ("marker", "named"):  # in their place, the fixed line that says something was noted
        review = (seed_run.reports[student] or {}).get("review", [])
        assert sandbox.HIDDEN_NOTE in review, f"{student}: no note for review of the hidden checks: {review}"


COURIER_WAIT_SECONDS = 10  # the MLP training waits so long for a hidden input from the other child


@pytest.fixture(scope="module")
def lanes_run(tmp_path_factory):
    """One submission probed by two children side by side, with a secret: relu leaves what it sees of its hidden
    input in its home, and the MLP training's relu (in the other child, the same user) looks for it there."""
    root, made = harness.scratch_root("lanes", Path(tmp_path_factory.mktemp("lanes")))
    token = harness.new_token()
    try:
        kit = harness.copy_kit(root / "kit")
        dirs = RunDirs(root / "run").create()
        caches.seed(dirs.cache)
        secret_file = root / "instructor" / "secret"
        secret_file.parent.mkdir()
        secret_file.write_text(secrets.token_hex(32) + "\n")
        secret_file.chmod(0o600)
        folder = harness.build_submission(dirs.root / "courier", kit / "solutions", bodies={"relu": snippets.render(
            snippets.SEED_COURIER, WAIT_SECONDS=COURIER_WAIT_SECONDS)})
        env = {"DL_BASICS_CONFINE": "user"} if confine.child_user_works() else {}
        out = dirs.root / "observations.json"
        run = harness.run_grade(kit, dirs, [str(folder), "courier", str(secret_file), str(out)], timeout=300,
                                markers=[token], env=env, program=snippets.LANES)
        harness.assert_imported_copy(run, kit)
        assert run.status == 0 and out.is_file(), run.brief()
        seen = json.loads(out.read_text())
        print(f"\ntwo lanes: {run.seconds:.1f} s; layers: {seen['layers']}")
        yield seen
    finally:
        harness.end_processes([token, str(root)])
        if made:
            shutil.rmtree(root, ignore_errors=True)


def test_hidden_inputs_wait_for_every_lanes_public_probes(lanes_run):
    """With two children side by side (``grade`` on an idle machine), the hidden probe's seeds go out only once
    every public probe of both has its result: what one child's code left of a hidden input (in its home, which a
    child running as the same user can read where no Landlock rule stops it) never reaches a public check's
    message through the other child. The hidden probe did run and write."""
    errors = lanes_run["errors"]
    assert "courier wrote" in json.dumps(errors["hidden.relu"]), f"the hidden probe did not run: {errors}"
    public = json.dumps({p: errors[p] for p in ("relu", "mlp")})
    assert "courier:" not in public and "MKR-" not in public, (
        f"a hidden input reached a public probe's message (layers: {lanes_run['layers']}): {public[:600]}")

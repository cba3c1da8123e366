"""The container case: the grader runs as root where the kernel offers neither Landlock nor namespaces nor seccomp
(a container that forbids them), so the only wall between a submission and everything else is the user its
children run as (``confine``'s ``user`` layer): a dedicated unprivileged user per submission.

An instructor following the README's Security section: the secret in a file of its own (mode 0600, outside the
class folder and the kit), the kit's ``solutions/`` private (0700), the class folder private (0700). On a throwaway
copy of the kit (tests/attacks/harness.py), ``DL_BASICS_CONFINE=user`` switches the other layers off, and one
``grade batch --jobs 2 --secret-file SECRET --accept-code --only relu`` grades two students side by side:

- ``mallory`` (a copy of the solutions, so she scores) at import: finds the grading process (``/proc/<pid>/status``
  up to the one whose command line names ``--secret-file``), reads the secret file it names, ``DL_BASICS_SECRET``
  from its ``/proc/<pid>/environ``, the kit's ``solutions/``; creates a file in the kit's ``grader/``; appends a
  raising relu to the classmate's files (the original folder, from the command line, and the copy being graded,
  a ``grade-*`` folder beside her own); and reports each outcome in her own relu's error message, so whatever
  she read would show in her report;
- ``victim`` (a copy of the solutions).

``--accept-code``: the policy for submitted code would refuse mallory's code before it ran; the walls must hold
for code an instructor accepted. Then ``DL_BASICS_CONFINE=none`` with a secret: the batch refuses to run (status
2, one line naming ``--allow-unconfined``), and with ``--allow-unconfined`` it grades the victim alone (the score
the batch beside mallory must match), with "process boundary only" in the report.
"""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
import shutil
import tempfile
from pathlib import Path

import pytest

from grader.engine import confine
from grader.reports import inert

from . import caches
from .attacks import harness, snippets
from .attacks.harness import RunDirs

pytestmark = pytest.mark.end_to_end  # every test here runs the kit's commands in real subprocesses

ONLY = "relu"                 # relu's checks, the MLP training and relu's hidden check
ATTEMPTS = ("sec", "env", "sol-ls", "sol", "kit", "cls-ls", "orig", "tmp")  # mallory's, each must be refused
SIBLING_WAIT_SECONDS = 20     # how long mallory looks for the victim's copy
USER_ONLY = "a dedicated unprivileged user"


def user_layer_missing() -> str | None:
    """Why this machine cannot run the children as a user of their own (``confine``'s ``user`` layer), or None."""
    if os.geteuid() != 0:
        return (f"the 'user' confinement layer (children as a dedicated unprivileged user) needs the grader to run as "
                f"root; this suite runs as uid {os.geteuid()}")
    if not confine._mapped(confine.CHILD_UID_BASE + confine.CHILD_UID_SPAN - 1):
        return ("the 'user' confinement layer is missing: the children's user ids are not mapped in this user "
                "namespace")
    if not confine.child_user_works():
        return ("the 'user' confinement layer is missing: an unprivileged user cannot start this interpreter and "
                "import NumPy (a folder above the interpreter or its environment is closed to other users)")
    return None


@dataclasses.dataclass
class Container:
    root: Path
    token: str
    secret: str
    batch: harness.Run
    reports: dict[str, dict | None]
    outputs: dict[str, bytes]          # every file the batch wrote, and its stdout and stderr
    gradebook: str
    kit_changes: list[str]
    class_changes: list[str]
    shared_new: dict[str, int]         # entries that appeared in /tmp, /var/tmp, /dev/shm during the batch
    refused: harness.Run               # DL_BASICS_CONFINE=none, a secret: refused
    unconfined: harness.Run            # ... with --allow-unconfined: the victim alone
    alone: dict | None                 # the victim's report from that run


@pytest.fixture(scope="module")
def container(tmp_path_factory):
    why = user_layer_missing()
    if why:
        print(f"SKIP: {why}")
        pytest.skip(why)
    root, made = harness.scratch_root("container", Path(tmp_path_factory.mktemp("container")))
    token = harness.new_token()
    try:
        kit = harness.copy_kit(root / "kit")
        (kit / "solutions").chmod(0o700)
        secret = secrets.token_hex(32)
        secret_file = root / "instructor" / "secret"
        secret_file.parent.mkdir()
        secret_file.write_text(secret + "\n")
        secret_file.chmod(0o600)
        dirs = RunDirs(root / "run").create()
        caches.seed(dirs.cache)
        classroom, out = dirs.root / "class", dirs.root / "out"
        classroom.mkdir()
        classroom.chmod(0o700)
        harness.build_submission(classroom / "mallory", kit / "solutions", append={"mlp": snippets.side_effect(
            "C", snippets.CONTAINER, report=snippets.REPORT_RELU, TOKEN=token, ALLOWED_ROOT=str(root), KIT=str(kit),
            VICTIM="victim", WAIT_SECONDS=SIBLING_WAIT_SECONDS)})
        harness.build_submission(classroom / "victim", kit / "solutions")
        # the grading process holds the secret in its environment too (DL_BASICS_SECRET), as a CI job might
        env = {"DL_BASICS_CONFINE": "user", "DL_BASICS_SECRET": secret}
        kit_before, class_before = harness.snapshot(kit), harness.snapshot(classroom)
        shared_before = harness.shared_entries()
        batch = harness.run_grade(kit, dirs, ["batch", str(classroom), "--jobs", "2", "--out", str(out),
                                              "--secret-file", str(secret_file), "--only", ONLY, "--quiet",
                                              "--accept-code"], timeout=420, markers=[token], env=env)
        shared_new = {p: uid for p, uid in harness.shared_entries().items() if p not in shared_before}
        kit_changes, class_changes = harness.diff(kit_before, harness.snapshot(kit)), \
            harness.diff(class_before, harness.snapshot(classroom))
        harness.assert_imported_copy(batch, kit)
        outputs = {"(stdout)": batch.stdout.encode(), "(stderr)": batch.stderr.encode()}
        for path in sorted(out.rglob("*")) if out.is_dir() else []:
            if path.is_file():
                outputs[path.relative_to(out).as_posix()] = path.read_bytes()
        reports = harness.read_reports(out, ("mallory", "victim"))
        gradebook = (out / "gradebook.csv").read_text() if (out / "gradebook.csv").is_file() else ""
        print(f"\ncontainer batch: {batch.seconds:.1f} s; mallory: "
              f"{_message(reports.get('mallory'), 'relu.values')[:230]}")

        # No confinement at all, with a secret: refused; with --allow-unconfined, the victim alone (honest code only).
        lone = dirs.root / "lone"
        harness.build_submission(lone / "victim", kit / "solutions")
        unconfined_env = {"DL_BASICS_CONFINE": "none"}
        args = ["batch", str(lone), "--jobs", "1", "--secret-file", str(secret_file), "--only", ONLY, "--quiet"]
        refused = harness.run_grade(kit, dirs, [*args, "--out", str(dirs.root / "refused")], timeout=300,
                                    markers=[token], env=unconfined_env)
        unconfined = harness.run_grade(kit, dirs, [*args, "--out", str(dirs.root / "unconfined"),
                                                   "--allow-unconfined"], timeout=300, markers=[token],
                                       env=unconfined_env)
        alone = harness.read_reports(dirs.root / "unconfined", ("victim",))["victim"]
        print(f"no confinement: refused in {refused.seconds:.1f} s, graded with --allow-unconfined in "
              f"{unconfined.seconds:.1f} s")
        yield Container(root, token, secret, batch, reports, outputs, gradebook, kit_changes, class_changes,
                        shared_new, refused, unconfined, alone)
    finally:
        harness.end_processes([token, str(root)])
        for path in Path(tempfile.gettempdir()).glob(f"{token}*"):
            path.unlink(missing_ok=True)
        if made:
            shutil.rmtree(root, ignore_errors=True)


def _message(report: dict | None, check: str) -> str:
    if not report:
        return "(no report)"
    return next((c["message"] for c in report["checks"] if c["id"] == check), f"(no {check} check)")


def _points(report: dict) -> dict[str, float]:
    return {c["id"]: c["points"] for c in report["checks"]}


def test_container_batch_grades_everyone(container):
    """The batch exits 0 and writes the gradebook and both reports; mallory (the solutions' relu on matrices)
    scores; no process outlives it."""
    run = container.batch
    assert run.status == 0 and not run.timed_out, run.brief()
    assert all(container.reports.values()), f"missing reports: {container.reports.keys()}: {run.brief()}"
    assert container.gradebook.startswith("student,"), container.gradebook
    assert {"mallory", "victim"} <= {line.split(",")[0] for line in container.gradebook.splitlines()[1:]}
    assert container.reports["mallory"]["score"] > 0, _message(container.reports["mallory"], "relu.values")
    assert not run.survivors, run.survivors


def test_container_mallory_is_refused_every_attempt(container):
    """Each of mallory's attempts (the secret file, the environment's secret, the solutions' listing and files,
    a file in the kit's grader/, the class folder's listing, the classmate's original files and graded copy) fails
    with PermissionError, and she did find the grading process's command line (the attack was armed: the
    secret file's path and the class folder were known to her)."""
    message = _message(container.reports.get("mallory"), "relu.values")
    assert "attack C: cmd=found" in message, f"mallory did not find the grading process: {message}"
    outcomes = dict(re.findall(r"\b([a-z-]+)=(\S+)", message.split("attack C: ", 1)[-1]))
    bad = {a: outcomes.get(a, "(not tried)") for a in ATTEMPTS if outcomes.get(a) != "PermissionError"}
    assert not bad, f"mallory's attempts that were not refused: {bad}; her report: {message}"


def test_container_secret_reaches_no_output(container):
    """The secret (its text, its hex encoding, their first 16 characters) appears in no file the batch wrote, nor
    on its stdout or stderr."""
    needles = {container.secret, container.secret[:16], container.secret.encode().hex()[:16]}
    found = [f"{needle[:8]}… in {name}" for name, data in container.outputs.items() for needle in needles
             if needle.encode() in data]
    assert not found, f"the secret leaked: {found}"


def test_container_kit_and_class_unchanged(container):
    """The kit copy and the class folder are byte for byte as they were; no entry appeared in the shared temporary
    folders carrying the run's marker or owned by a children's user."""
    assert not container.kit_changes, f"the kit copy changed: {container.kit_changes[:6]}"
    assert not container.class_changes, f"the class folder changed: {container.class_changes[:6]}"
    span = range(confine.CHILD_UID_BASE, confine.CHILD_UID_BASE + confine.CHILD_UID_SPAN)
    ours = {p: uid for p, uid in container.shared_new.items() if container.token in p or uid in span}
    assert not ours, f"created outside the test's folder: {ours}"


def test_container_victim_scores_as_graded_alone(container):
    """The victim, graded beside mallory, gets exactly the points (check by check, hidden check included) it gets
    graded alone, which are full marks."""
    victim, alone = container.reports.get("victim"), container.alone
    assert alone is not None, f"the victim graded alone has no report: {container.unconfined.brief()}"
    assert victim is not None
    assert _points(victim) == _points(alone), f"beside mallory: {_points(victim)}; alone: {_points(alone)}"
    assert victim["score"] == victim["max_score"] and "relu.hidden" in _points(victim), victim["score"]


def test_container_reports_name_the_user_layer_only(container):
    """Every report says its children ran as a dedicated unprivileged user, and claims neither Landlock nor
    namespaces (nor seccomp)."""
    for student, report in container.reports.items():
        summary = report["isolation"]["summary"]
        assert summary == USER_ONLY and report["isolation"]["user"], f"{student}: {summary}"
        markdown = container.outputs[f"{student}.md"].decode()
        assert inert.markdown(f"Sandbox: {USER_ONLY}") in markdown, (
            f"{student}.md: no sandbox line naming the user layer")
        assert not re.search(r"Landlock|namespace|seccomp", markdown), f"{student}.md claims another layer"


def test_no_confinement_with_a_secret_is_refused(container):
    """``DL_BASICS_CONFINE=none`` with a secret: the batch refuses to grade (status 2) with one line naming
    ``--allow-unconfined``."""
    refused = container.refused
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert refused.status == 2, refused.brief()
    assert len(lines) == 1 and "--allow-unconfined" in lines[0], refused.stderr


def test_allow_unconfined_grades_with_a_secret(container):
    """... and with ``--allow-unconfined`` it grades, saying the children had the process boundary only."""
    run, report = container.unconfined, container.alone
    assert run.status == 0 and report is not None, run.brief()
    assert report["isolation"]["summary"].startswith("process boundary only"), report["isolation"]

"""The attack suite: hostile submissions against the real ``grade`` CLI, one test per attack (the README's Security
section).

Run it with::

    .venv/bin/python -m pytest tests/test_attacks.py -s -rA

``-s`` shows the measured peaks, timings and each attack's own status report. ``DL_BASICS_ATTACK_KIT=DIR``
attacks a copy of another checkout of the kit (an export of an older commit, say) instead of this one.

Everything runs on a throwaway copy of the kit in the test's temporary directory, with its own HOME, cache
and TMPDIR; see ``tests/attacks/harness.py``. Attacks are grouped to keep the suite fast:

- ``batch_a``: one ``grade batch --jobs 2 --only l2_penalty`` over the side-effect attackers (rows 1-5, 9-11, 15)
  and honest victims (a copy of the solutions, full marks; a copy of the stubs, 0);
- ``batch_b``: two ``grade batch --jobs 2`` runs over the shortcut submissions (rows 6-8);
- single ``grade`` runs for an honest baseline (peak memory) and for rows 12, 13 and 14. Row 12 needs its own
  run: in a batch, the clean-up after later students could end what escaped from an earlier one.

Runs that let attack code run pass ``--accept-code`` (see :data:`ACCEPT_CODE`): the policy for submitted code would
refuse it before it ran, and the walls must hold for code an instructor accepted. The container case (the only
wall a dedicated unprivileged user) is ``tests/test_container_attacks.py``; the hidden probes' seeds,
``tests/test_seed_attacks.py``.

A row whose defence needs a kernel feature this machine lacks is skipped with the reason.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from . import caches
from .attacks import harness, snippets
from .attacks.harness import RunDirs

pytestmark = pytest.mark.end_to_end  # every test here runs the kit's commands in real subprocesses

SINGLE_ONLY = "l2_penalty"                             # the honest baseline and rows 12 and 13
ROW14_ONLY = "relu,l2_penalty"                         # row 14: the huge module, and one that is not
BATCH_A_ONLY = "l2_penalty"                            # import-time attacks need nothing more
BUDGET_MARGIN_KIB = 512 * 1024                         # the parent may use the honest peak + 512 MiB
BOMB_BYTES = 768 * 1024 * 1024                         # row 13: each of three frames expands to this many bytes
HUGE_SOURCE_BYTES = 10 * 1000 * 1000                   # row 14
HUGE_SOURCE_SECONDS = 90.0
CHAIN_DEPTH = 60                                       # row 12
SIBLING_WAIT_SECONDS = 25                              # row 4: how long the attacker looks for its victim
# The policy for submitted code refuses, before anything runs, what these attacks are made of (import-time code,
# reflection, imports beyond the numerical libraries). The walls behind it must hold for code an instructor read
# and accepted all the same, so every run whose point is to let attack code run passes --accept-code (every
# submission); honest runs (the baseline) do not.
ACCEPT_CODE = ["--accept-code"]


def _mib(kib: int | None) -> str:
    return "unknown" if kib is None else f"{kib / 1024:.0f} MiB"


# ============================================================================================ shared set-up

@dataclasses.dataclass
class Lab:
    root: Path                 # the test's temporary directory (the only place an escaped attack may write)
    token: str                 # this run's marker
    template: Path             # a pristine throwaway copy of the kit; every run gets its own copy of it
    features: harness.Features
    warm_cache: Path           # XDG_CACHE_HOME holding the trusted caches (tests/caches.py), copied into each run
    honest: harness.Run        # `grade solutions --only l2_penalty` on a warm cache
    honest_kit: Path
    budget_kib: int
    shared_tmp: Path

    def kit(self, name: str) -> Path:
        return harness.copy_kit(self.root / name / "kit", self.template)

    def dirs(self, name: str) -> RunDirs:
        return RunDirs(self.root / name).create(warm_cache=self.warm_cache)

    def skip_unless(self, need: str) -> None:
        why = self.features.missing_for(need)
        if why:
            print(f"SKIP: {why}")
            pytest.skip(why)

    def leftovers(self) -> list[Path]:
        return sorted(self.shared_tmp.glob(f"{self.token}*"))

    def pth(self) -> Path:
        return harness.purelib() / f"{self.token}_row02_attack.pth"

    def clean_up(self) -> None:
        """Whatever an attack managed to leave behind outside the test's directory, removed."""
        harness.end_processes([self.token, str(self.root)])
        for path in self.leftovers():
            path.unlink(missing_ok=True)
        self.pth().unlink(missing_ok=True)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    started = time.monotonic()
    # as root, a folder the children's own users can pass through (see harness.scratch_root)
    root, made = harness.scratch_root("attacks", Path(tmp_path_factory.mktemp("attacks")))
    token = harness.new_token()
    features = harness.Features.detect()
    print(f"\nkernel features: {features.describe()}")
    template = harness.copy_kit(root / "kit-template")
    lab = Lab(root, token, template, features, root / "warm" / "cache", None, None, 0,
              Path(tempfile.gettempdir()).resolve())
    try:
        # The caches every run starts from: the suite's trusted compilation cache (filled by `grade warm`, as an
        # instructor would before a batch) and the reference's observations, both written by trusted code only;
        # anything added to them afterwards is an attack's doing.
        warm_dirs = RunDirs(root / "warm").create()
        caches.seed(warm_dirs.cache)
        # The honest baseline: the solutions, graded as the single-run rows are (warm cache).
        lab.honest_kit = lab.kit("honest")
        lab.honest = harness.run_grade(lab.honest_kit, lab.dirs("honest"),
                                       [str(lab.honest_kit / "solutions"), "--only", SINGLE_ONLY, "--format", "json",
                                        "--quiet"], timeout=300, markers=[token])
        assert lab.honest.status == 0 and lab.honest.self_maxrss_kib, f"the honest run failed: {lab.honest.brief()}"
        harness.assert_imported_copy(lab.honest, lab.honest_kit)
        lab.budget_kib = lab.honest.self_maxrss_kib + BUDGET_MARGIN_KIB
        print(f"honest run: {lab.honest.seconds:.1f} s; parent peak RSS {_mib(lab.honest.self_maxrss_kib)}, "
              f"sandboxed children peak {_mib(lab.honest.children_maxrss_kib)}; "
              f"parent budget = honest peak + 512 MiB = {_mib(lab.budget_kib)} "
              f"(set-up {time.monotonic() - started:.0f} s)")
        yield lab
    finally:
        lab.clean_up()
        if made:
            shutil.rmtree(root, ignore_errors=True)


def checks(report: dict, *targets: str) -> list[dict]:
    return [c for c in report["checks"] if not targets or c["target"] in targets]


def own_status(report: dict | None) -> str:
    """What a side-effect attacker reported through its own l2_penalty (see tests/attacks/snippets.py)."""
    if not report:
        return "(no report)"
    messages = [c["message"] for c in report["checks"] if c["id"] == "l2_penalty.values"]
    return messages[0] if messages else "(no l2_penalty check)"


def _json_or_none(run: harness.Run) -> dict | None:
    try:
        return run.json()
    except ValueError:
        return None


def summary(report: dict | None) -> str:
    if not report:
        return "no report"
    bad = [f"{c['id']} {c['points']:g}/{c['max_points']:g}: {c['message'][:160]}" for c in report["checks"]
           if c["points"] < c["max_points"]]
    return f"score {report['score']:g}/{report['max_score']:g}" + ("; " + " | ".join(bad) if bad else "")


# ============================================================================================ row 0: the harness

def test_row00_grade_runs_on_the_throwaway_copy(lab):
    """Row 0 (harness): the grade process imports the throwaway copy's grader, and the solutions score full marks."""
    harness.assert_imported_copy(lab.honest, lab.honest_kit)
    report = lab.honest.json()
    assert report["score"] == report["max_score"] > 0, summary(report)
    assert not lab.honest.survivors, f"an honest run left processes behind: {lab.honest.survivors}"


# ============================================================================================ batch A

@dataclasses.dataclass
class BatchA:
    run: harness.Run
    reports: dict[str, dict]
    gradebook: dict[str, float]
    changes: dict[str, list[str]]      # what changed: kit, home, cache, class
    listener: list[str]
    leftovers: list[str]               # marker files found in the shared temporary directory
    pth_written: bool
    verify: harness.Run                # row 1: the reference graded again on the attacked cache


R03_PREFIX = "zz_r03_victim_"


@pytest.fixture(scope="module")
def batch_a(lab):
    name = "batch-a"
    kit, dirs = lab.kit(name), lab.dirs(name)
    classroom, out = dirs.root / "class", dirs.root / "out"
    classroom.mkdir()
    stubs, solutions = kit / "exercises", kit / "solutions"
    common = dict(TOKEN=lab.token, ALLOWED_ROOT=str(lab.root))
    victim_tag = f"{lab.token}-row04-victim"
    assert not lab.pth().exists()
    with harness.Listener() as listener:
        side = {
            "r01_cache": ("1", snippets.CACHE, {}),
            "r02_kit_and_pth": ("2", snippets.KIT_AND_PTH, {}),
            "r03_other_students": ("3", snippets.OTHER_STUDENTS, dict(VICTIM_PREFIX=R03_PREFIX)),
            "r04a_sibling_attacker": ("4", snippets.SIBLING, dict(WAIT_SECONDS=SIBLING_WAIT_SECONDS,
                                                                   VICTIM_TAG=victim_tag)),
            "r05b_read_solutions_only": ("5", snippets.READ_SOLUTIONS, {}),
            "r10_network": ("10", snippets.NETWORK, dict(TCP_PORT=listener.tcp_port, UDP_PORT=listener.udp_port)),
            "r11_tmp_and_home": ("11", snippets.TMP_AND_HOME, dict(SHARED_TMP=str(lab.shared_tmp))),
        }
        for student, (row, body, values) in side.items():
            harness.build_submission(classroom / student, stubs, append={
                "weight_decay": snippets.side_effect(row, body, **common, **values)})
        prelude = snippets.PRELUDE
        harness.build_submission(classroom / "r04b_sibling_victim", solutions, files={
            "victim_tag.py": snippets.render(snippets.VICTIM_TAG, VICTIM_TAG=victim_tag)})
        harness.build_submission(classroom / "r05_read_solutions", stubs, append={
            "weight_decay": snippets.render(prelude + snippets.STEAL_SOLUTIONS, ROW="5", **common)})
        harness.build_submission(classroom / "r09_forge_own_pipe", stubs, append={
            "weight_decay": snippets.render(prelude + snippets.FORGE_OWN_PIPE, ROW="9", **common)})
        # Row 15: a submission that earns some points but not all (l2_penalty misses the ½), with and without
        # a conftest.py that would replace the judge.
        half = {"l2_penalty": "return jnp.sum(w ** 2)"}
        harness.build_submission(classroom / "r15a_with_conftest", solutions, bodies=half,
                                 files={"conftest.py": snippets.STUDENT_CONFTEST})
        harness.build_submission(classroom / "r15b_without_conftest", solutions, bodies=half)
        harness.build_submission(classroom / f"{R03_PREFIX}full", solutions)
        harness.build_submission(classroom / f"{R03_PREFIX}zero", stubs)
        harness.build_submission(classroom / "zz_victim_full", solutions)
        harness.build_submission(classroom / "zz_victim_zero", stubs)

        trees = {"kit": kit, "home": dirs.home, "cache": dirs.cache, "class": classroom}
        before = {k: harness.snapshot(p) for k, p in trees.items()}
        run = harness.run_grade(kit, dirs, ["batch", str(classroom), "--jobs", "2", "--out", str(out),
                                            "--only", BATCH_A_ONLY, "--quiet", *ACCEPT_CODE], timeout=420,
                                markers=[lab.token])
        after = {k: harness.snapshot(p) for k, p in trees.items()}
        time.sleep(0.5)  # a late datagram or connection
        events = list(listener.events)
    print(f"\nbatch A: {run.seconds:.1f} s, parent peak RSS {_mib(run.self_maxrss_kib)}, "
          f"children peak {_mib(run.children_maxrss_kib)}; the listener saw {len(events)} connections/datagrams")
    leftovers = [p.name for p in lab.leftovers()]
    pth_written = lab.pth().exists()
    lab.clean_up()  # nothing outside the test's directory stays, whatever happened
    reports = {}
    for student in sorted(p.name for p in classroom.iterdir() if p.is_dir()):
        try:
            reports[student] = json.loads((out / f"{student}.json").read_text())
        except (OSError, ValueError):
            reports[student] = None
    gradebook = {}
    try:
        with open(out / "gradebook.csv", newline="") as f:
            gradebook = {row["student"]: float(row["total"]) for row in csv.DictReader(f)}
    except (OSError, ValueError, KeyError):
        pass
    for student, report in reports.items():
        if student.startswith("r") and report is not None:
            print(f"  {student}: {report['score']:g}/{report['max_score']:g}; {own_status(report)[:230]}")
    # Row 1: the reference, graded later on a pristine copy of the kit with the same HOME and cache.
    verify_kit = lab.kit("batch-a-verify")
    verify = harness.run_grade(verify_kit, dirs, [str(verify_kit / "solutions"), "--only", BATCH_A_ONLY,
                                                  "--format", "json", "--quiet"], timeout=300, markers=[lab.token])
    harness.assert_imported_copy(run, kit)
    return BatchA(run, reports, gradebook, {k: harness.diff(before[k], after[k]) for k in trees}, events,
                  leftovers, pth_written, verify)


def _report(batch: BatchA, student: str) -> dict:
    report = batch.reports.get(student)
    assert report is not None, f"{student} has no report: {batch.run.brief()}"
    return report


def test_batch_a_ran(batch_a):
    """Batch A graded every submission (the harness itself worked)."""
    assert batch_a.run.status == 0 and not batch_a.run.timed_out, batch_a.run.brief()
    missing = [s for s, r in batch_a.reports.items() if r is None]
    assert not missing, f"no report for {missing}: {batch_a.run.brief()}"


def test_row01_reference_cache_cannot_be_rewritten(lab, batch_a):
    """Row 1: rewriting the reference cache's .npz files (path from /proc/<ppid>/environ, or guessed) changes
    nothing: the cache is as it was and a later run of the reference still gets full marks."""
    lab.skip_unless("files")
    status = own_status(batch_a.reports.get("r01_cache"))
    changed = batch_a.changes["cache"]
    verify = batch_a.verify
    report = verify.json() if verify.status == 0 and verify.stdout.strip() else None
    assert not changed and report and report["score"] == report["max_score"], (
        f"row 1: the attacker reports '{status}'; cache changes: {changed[:6]}; the reference graded "
        f"afterwards on that cache: {summary(report) if report else verify.brief()}")


def test_row02_kit_and_site_packages_stay_untouched(lab, batch_a):
    """Row 2: appending code to the kit's grader/*.py (path from /proc/<ppid>/cwd or the editable finder) and
    dropping a .pth file into site-packages both fail."""
    lab.skip_unless("files")
    status = own_status(batch_a.reports.get("r02_kit_and_pth"))
    changed = batch_a.changes["kit"]
    assert not changed and not batch_a.pth_written, (
        f"row 2: the attacker reports '{status}'; kit copy changes: {changed[:6]}; "
        "a .pth file was "
        f"{'WRITTEN into site-packages (removed again by the test)' if batch_a.pth_written else 'not written'}")


def test_row03_other_students_folders_and_reports(lab, batch_a):
    """Row 3: in grade batch, rewriting other students' folders (batch root from /proc/<ppid>/cmdline) and
    their reports changes neither their files nor their scores."""
    lab.skip_unless("files")
    status = own_status(batch_a.reports.get("r03_other_students"))
    changed = [c for c in batch_a.changes["class"] if R03_PREFIX in c]
    problems = []
    for student, full in ((f"{R03_PREFIX}full", True), (f"{R03_PREFIX}zero", False)):
        report = batch_a.reports.get(student)
        expected = report["max_score"] if (report and full) else 0.0
        if report is None or report["score"] != expected:
            problems.append(f"{student}: report says {summary(report)} (expected {expected:g})")
        if batch_a.gradebook.get(student) != expected:
            problems.append(f"{student}: gradebook says {batch_a.gradebook.get(student)} (expected {expected:g})")
    assert not changed and not problems, (
        f"row 3: the attacker reports '{status}'; victims' files changed: {changed[:6]}; scores: {problems}")


def test_row04_sibling_child_cannot_be_stopped_forged_or_killed(lab, batch_a):
    """Row 4: with --jobs 2, the sibling child cannot be found, SIGSTOPped, fed fake frames or killed: the
    victim (a copy of the solutions) keeps the full marks it gets graded alone."""
    lab.skip_unless("signals")
    status = own_status(batch_a.reports.get("r04a_sibling_attacker"))
    report = batch_a.reports.get("r04b_sibling_victim")
    assert report and report["score"] == report["max_score"], (
        f"row 4: the attacker reports '{status}'; the victim got {summary(report)} instead of full marks")


def test_row05_solutions_cannot_be_read(lab, batch_a):
    """Row 5: the kit's solutions/*.py cannot be read (same path tricks: /proc/<ppid>/cwd, the editable finder),
    and stubs that read them and call them still score 0."""
    lab.skip_unless("files")
    report = _report(batch_a, "r05_read_solutions")
    status = own_status(batch_a.reports.get("r05b_read_solutions_only"))
    read = "solutions read=0 " in status
    assert report["score"] == 0 and read, (
        f"row 5: a reader reports '{status}'; the stubs that call what they read got {summary(report)}")


def test_row09_forged_frames_on_own_pipe(batch_a):
    """Row 9: stubs that write frames computed with the trusted library into their own pipe, then os._exit(0),
    earn nothing."""
    report = _report(batch_a, "r09_forge_own_pipe")
    assert report["score"] == 0, (
        f"row 9: forged frames were accepted: {report['score']:g}/{report['max_score']:g} points; "
        f"passed: {[c['id'] for c in report['checks'] if c['passed']]}")
    # and the forgery really reached the pipe, where the parent refused it
    messages = " ".join(c["message"] for c in report["checks"])
    assert "did not accept" in messages or "did not write" in messages, (
        f"row 9: no forged frame arrived: {messages[:500]}")


def test_row10_no_tcp_connection(lab, batch_a):
    """Row 10 (TCP): a connection to the test's listener on 127.0.0.1 never arrives."""
    lab.skip_unless("tcp")
    tcp = [e for e in batch_a.listener if e.startswith("TCP")]
    assert not tcp, f"row 10: the attacker reports '{own_status(batch_a.reports.get('r10_network'))}'; " \
                    f"the listener saw {tcp}"


def test_row10_no_dns_query(lab, batch_a):
    """Row 10 (DNS): a DNS query to the test's UDP socket on 127.0.0.1 never arrives."""
    lab.skip_unless("udp")
    udp = [e for e in batch_a.listener if e.startswith("UDP")]
    assert not udp, f"row 10: the attacker reports '{own_status(batch_a.reports.get('r10_network'))}'; " \
                    f"the listener saw {udp}"


def test_row11_no_files_in_shared_tmp_or_home(lab, batch_a):
    """Row 11: files written to the shared temporary directory and to the grading process's HOME are not there
    afterwards (nothing outside the child's own temporary directory changes)."""
    lab.skip_unless("files")
    status = own_status(batch_a.reports.get("r11_tmp_and_home"))
    home = batch_a.changes["home"]
    assert not batch_a.leftovers and not home, (
        f"row 11: the attacker reports '{status}'; left in the shared temporary directory: {batch_a.leftovers} "
        f"(removed by the test); HOME changes: {home[:6]}")


def test_row15_student_conftest_has_no_effect(batch_a):
    """Row 15: a conftest.py in the submission that would replace the judge changes nothing under grade: the
    submission with it scores exactly what the same submission without it scores."""
    with_it, without = _report(batch_a, "r15a_with_conftest"), _report(batch_a, "r15b_without_conftest")

    def points(r):
        return {c["id"]: c["points"] for c in r["checks"]}

    assert points(with_it) == points(without), (
        f"row 15: with the conftest: {summary(with_it)}; without: {summary(without)}")


def test_batch_a_isolation_contract(batch_a):
    """Rows 1-5, 9-11 together: honest victims keep their known scores (solutions full, stubs 0), nothing
    outside the children's directories changed, no process survived."""
    problems = []
    for student, full in (("zz_victim_full", True), ("zz_victim_zero", False)):
        report = batch_a.reports.get(student)
        if not report or report["score"] != (report["max_score"] if full else 0):
            problems.append(f"{student}: {summary(report)}")
    for tree in ("kit", "home", "cache", "class"):
        if batch_a.changes[tree]:
            problems.append(f"{tree} changed: {batch_a.changes[tree][:4]}")
    if batch_a.leftovers:
        problems.append(f"left in the shared temporary directory: {batch_a.leftovers}")
    if batch_a.pth_written:
        problems.append("a .pth file was written into site-packages")
    if batch_a.listener:
        problems.append(f"the listener saw {batch_a.listener}")
    if batch_a.run.survivors:
        problems.append(f"{len(batch_a.run.survivors)} processes survived grade")
    assert not problems, "batch A broke the isolation contract: " + "; ".join(problems)


# ============================================================================================ batch B: shortcuts

# Two batches: the shortcut variants of a run share submissions (one per function), so every variant is graded
# with only the probes it needs. student -> variants; each variant sits in its own function.
BATCH_B = {
    "b1": ("cross_entropy,relu", {
        "s1_scipy_importlib": ["scipy_log_softmax", "importlib"],
        "s2_optax_exec": ["optax_safe", "exec"],
    }),
    "b2": ("softmax,relu", {
        "s3_getattr_helper": ["getattr", "helper_module"],
        "s4_import_alias": ["dunder_import", "module_alias"],
        "s5_trusted_leaky": ["grader_trusted", "leaky_relu"],
        "s6_latin1": ["latin1"],
        "s7_utf7": ["utf7"],
    }),
}
STUDENT_OF = {v: (batch, student) for batch, (_, students) in BATCH_B.items()
              for student, variants in students.items() for v in variants}


@pytest.fixture(scope="module")
def shortcut_students(lab) -> dict[str, Path]:
    """The submissions of rows 6-8: copies of the solutions with shortcut variants in some functions."""
    folders = {}
    for batch, (_, students) in BATCH_B.items():
        classroom = lab.root / f"batch-{batch}" / "class"
        for student, variants in students.items():
            bodies, append, files, encoding = {}, {}, {}, None
            for v in variants:
                _, function, body = snippets.SHORTCUTS[v]
                bodies[function] = body
                append.update(snippets.SHORTCUT_APPEND.get(v, {}))
                files.update(snippets.SHORTCUT_FILES.get(v, {}))
                encoding = snippets.SHORTCUT_ENCODING.get(v, encoding)
            folders[student] = harness.build_submission(classroom / student, lab.template / "solutions", bodies,
                                                        append, files, encoding)
    return folders


@pytest.fixture(scope="module")
def batch_b(lab, shortcut_students) -> dict[str, dict | None]:
    reports = {}
    for batch, (only, students) in BATCH_B.items():
        name = f"batch-{batch}"
        kit, dirs = lab.kit(name), lab.dirs(name)
        out = dirs.root / "out"
        # --accept-code: the point is the run-time tripwire on shortcuts that run (getattr, exec, __import__),
        # which the policy for submitted code would otherwise refuse before they ran
        run = harness.run_grade(kit, dirs, ["batch", str(dirs.root / "class"), "--jobs", "2", "--out", str(out),
                                            "--only", only, "--quiet", *ACCEPT_CODE], timeout=300,
                                markers=[lab.token])
        print(f"\nbatch {batch} (--only {only}): {run.seconds:.1f} s")
        assert run.status == 0 and not run.timed_out, run.brief()
        harness.assert_imported_copy(run, kit)
        reports.update(harness.read_reports(out, students))
    return reports


def _judge_shortcut(variant: str, batch_b: dict) -> tuple[dict, str, list[str]]:
    """The variant's report, its function, and what is wrong with what the variant cost."""
    row, function, _ = snippets.SHORTCUTS[variant]
    _, student = STUDENT_OF[variant]
    report = batch_b.get(student)
    assert report is not None, f"row {row} ({variant}): {student} has no report"
    shortcut_functions = {snippets.SHORTCUTS[v][1] for v in BATCH_B[STUDENT_OF[variant][0]][1][student]}
    problems = []
    own = checks(report, function)
    kept = [f"{c['id']} {c['points']:g}/{c['max_points']:g} ({c['message'][:90]})" for c in own if c["points"] > 0]
    if kept:
        problems.append(f"{function} kept points: {kept}")
    others = [f"{c['id']} {c['points']:g}/{c['max_points']:g} ({c['message'][:90]})" for c in report["checks"]
              if c["target"] not in shortcut_functions and c["points"] < c["max_points"]]
    if others:
        problems.append(f"checks of other targets lost points: {others}")
    return report, function, problems


@pytest.mark.parametrize("variant", ["grader_trusted"])
def test_row06_grader_import_is_a_shortcut(variant, batch_b):
    """Row 6: ``from grader.engine.trusted import softmax`` inside softmax costs softmax's own checks (17 points) and
    the message names the grader import."""
    report, function, problems = _judge_shortcut(variant, batch_b)
    own = checks(report, function)
    assert sum(c["max_points"] for c in own) == 17
    unnamed = [c["id"] for c in own if "grader" not in c["message"]]
    if unnamed:
        problems.append(f"messages that do not name the grader import: {unnamed} ({own[0]['message'][:120]!r})")
    assert not problems, "row 6 (from grader.engine.trusted import softmax): " + "; ".join(problems)


@pytest.mark.parametrize("variant", ["getattr", "importlib", "dunder_import", "exec", "helper_module", "module_alias",
                                     "leaky_relu", "scipy_log_softmax", "optax_safe"])
def test_row07_dynamic_shortcut_costs_exactly_its_function(variant, batch_b):
    """Row 7: a dynamic shortcut (getattr, importlib, __import__, exec, a helper file, a module-level alias,
    leaky_relu(X, 0), jax.scipy's log_softmax, optax.safe_softmax_cross_entropy) costs exactly the function's
    own checks."""
    _, function, problems = _judge_shortcut(variant, batch_b)
    assert not problems, f"row 7 ({variant} in {function}): " + "; ".join(problems)


@pytest.mark.parametrize("variant", ["latin1", "utf7"])
def test_row08_declared_encoding_cannot_hide_a_shortcut(variant, batch_b):
    """Row 8: a latin-1 or UTF-7 declared mlp.py whose relu calls jax.nn.relu through a non-ASCII name still
    costs relu's checks."""
    _, function, problems = _judge_shortcut(variant, batch_b)
    assert not problems, f"row 8 ({variant} in {function}): " + "; ".join(problems)


def test_rows06_08_variants_are_correct_implementations(shortcut_students):
    """Control of rows 6-8: every shortcut variant computes the right thing (loaded in this process, compared
    with the trusted library), so the points it loses are the shortcut's price, not a bug's."""
    import jax
    import jax.numpy as jnp

    from grader.engine import submission, trusted

    x = jnp.asarray(np.random.default_rng(0).normal(size=(6, 5)), jnp.float32)
    y = jnp.asarray([0, 1, 2, 3, 4, 0])
    calls = {"softmax": (x,), "relu": (x,), "cross_entropy": (x, y)}
    problems = []
    for variant, (row, function, _) in snippets.SHORTCUTS.items():
        folder = shortcut_students[STUDENT_OF[variant][1]]
        functions, errors = submission.load_functions(folder)
        if function not in functions:
            problems.append(f"{variant}: {function} did not load ({errors.get(function)})")
            continue
        fn, ref = functions[function], trusted.FUNCTIONS[function]
        args = calls[function]

        def weighted(f):  # a scalar of f's output whose gradient checks every entry
            def scalar(a):
                out = f(a, *args[1:])
                return jnp.sum(out * jnp.cos(jnp.arange(out.size, dtype=jnp.float32).reshape(out.shape)))
            return scalar

        try:
            value, expected = np.asarray(jax.jit(fn)(*args)), np.asarray(ref(*args))
            grad, ref_grad = np.asarray(jax.grad(weighted(fn))(x)), np.asarray(jax.grad(weighted(ref))(x))
            if not (value.shape == expected.shape and np.allclose(value, expected, rtol=1e-5, atol=1e-6)
                    and np.allclose(grad, ref_grad, rtol=1e-4, atol=1e-6)):
                problems.append(f"{variant}: {function} disagrees with the trusted library")
        except Exception as exc:  # a variant that does not run would make its row meaningless
            problems.append(f"{variant}: {function} raised {type(exc).__name__}: {exc}")
    assert not problems, problems


# ============================================================================================ single runs

def test_row12_no_process_outlives_grading(lab):
    """Row 12: a chain of 60 nested setsid+fork processes (sleep, the marker as argv[0]) does not outlive grade."""
    name = "row12"
    kit, dirs = lab.kit(name), lab.dirs(name)
    folder = harness.build_submission(dirs.root / "student", kit / "exercises", append={
        "weight_decay": snippets.side_effect("12", snippets.PROCESS_CHAIN, TOKEN=lab.token, ALLOWED_ROOT=str(lab.root),
                                             DEPTH=CHAIN_DEPTH, SLEEP_SECONDS=120)})
    run = harness.run_grade(kit, dirs, [str(folder), "--only", SINGLE_ONLY, "--format", "json", "--quiet",
                                        *ACCEPT_CODE], timeout=300, markers=[lab.token])
    print(f"\nrow 12: {run.seconds:.1f} s")
    assert run.status == 0 and not run.timed_out, f"row 12: grade did not finish: {run.brief()}"
    harness.assert_imported_copy(run, kit)
    chain = {pid: cmd for pid, cmd in run.survivors.items() if f"{lab.token}-row12-chain" in cmd}
    assert not chain and not run.survivors, (
        f"row 12: the attacker reports '{own_status(_json_or_none(run))}'; {len(chain)} processes of the chain "
        f"survived grade (ended by the test), e.g. {sorted(chain.values())[:2]}; all survivors: {len(run.survivors)}")


def test_row13_compressed_frames_cannot_blow_up_the_parent(lab):
    """Row 13: three .npz frames written into the pipe, each deflated to a few MB but expanding to 768 MiB: the
    parent's peak RSS stays under the honest peak + 512 MiB and the stubs earn nothing."""
    name = "row13"
    kit, dirs = lab.kit(name), lab.dirs(name)
    folder = harness.build_submission(dirs.root / "student", kit / "exercises", append={"weight_decay": snippets.render(
        snippets.PRELUDE + snippets.BOMB, ROW="13", TOKEN=lab.token, ALLOWED_ROOT=str(lab.root),
        BOMB_BYTES=BOMB_BYTES)})
    run = harness.run_grade(kit, dirs, [str(folder), "--only", SINGLE_ONLY, "--format", "json", "--quiet",
                                        *ACCEPT_CODE], timeout=300, markers=[lab.token])
    print(f"\nrow 13: {run.seconds:.1f} s; parent peak RSS {_mib(run.self_maxrss_kib)} (budget {_mib(lab.budget_kib)}, "
          f"honest {_mib(lab.honest.self_maxrss_kib)}); children peak {_mib(run.children_maxrss_kib)}")
    assert run.status == 0 and not run.timed_out, f"row 13: grade did not finish: {run.brief()}"
    harness.assert_imported_copy(run, kit)
    report = run.json()
    peak = run.self_maxrss_kib or run.tree_maxrss_kib
    assert peak is not None and peak <= lab.budget_kib and report["score"] == 0, (
        f"row 13: parent peak RSS {_mib(peak)} against a budget of {_mib(lab.budget_kib)} (honest peak "
        f"{_mib(lab.honest.self_maxrss_kib)} + 512 MiB); {summary(report)}")


def test_row14_huge_source_file(lab):
    """Row 14: a 10 MB weight_decay.py (``a = 1`` lines after the functions): grade finishes in under 90 s, the
    parent stays under its memory budget, and that module's function (l2_penalty) scores 0 with a message that
    says the file is too large; mlp.py, a copy of the solution, keeps its points."""
    name = "row14"
    kit, dirs = lab.kit(name), lab.dirs(name)
    filler = "a = 1\n" * (HUGE_SOURCE_BYTES // len("a = 1\n") + 1)
    folder = harness.build_submission(dirs.root / "student", kit / "solutions", append={"weight_decay": filler})
    assert (folder / "weight_decay.py").stat().st_size >= HUGE_SOURCE_BYTES
    # no --accept-code: the file is too large to be read at all, by the policy or by the child; the point is what
    # the parent spends on it
    run = harness.run_grade(kit, dirs, [str(folder), "--only", ROW14_ONLY, "--format", "json", "--quiet"],
                            timeout=300, markers=[lab.token])
    print(f"\nrow 14: {run.seconds:.1f} s; parent peak RSS {_mib(run.self_maxrss_kib)} "
          f"(budget {_mib(lab.budget_kib)}); "
          f"children peak {_mib(run.children_maxrss_kib)}")
    assert run.status == 0 and not run.timed_out, f"row 14: grade did not finish: {run.brief()}"
    harness.assert_imported_copy(run, kit)
    report = run.json()
    problems = []
    if run.seconds >= HUGE_SOURCE_SECONDS:
        problems.append(f"took {run.seconds:.0f} s (limit {HUGE_SOURCE_SECONDS:.0f} s)")
    peak = run.self_maxrss_kib or run.tree_maxrss_kib
    if peak is None or peak > lab.budget_kib:
        problems.append(f"parent peak RSS {_mib(peak)} over the budget {_mib(lab.budget_kib)}")
    module_checks = checks(report, "l2_penalty")  # the module's function (its training is judged as usual)
    scored = [f"{c['id']} {c['points']:g}" for c in module_checks if c["points"] > 0]
    if scored:
        problems.append(f"l2_penalty (in weight_decay.py) still scored: {scored}")
    words = ("large", "size", "bytes", "MB", "MiB", "limit", "long")
    unclear = [c["id"] for c in module_checks
               if "weight_decay" not in c["message"] or not any(w in c["message"] for w in words)]
    if unclear:
        problems.append(f"messages that do not say weight_decay.py is too large: {unclear} "
                        f"({module_checks[0]['message'][:120]!r})")
    other = [f"{c['id']} {c['points']:g}/{c['max_points']:g}" for c in checks(report, "relu", "mlp")
             if c["points"] < c["max_points"]]
    if other:
        problems.append(f"mlp.py (a copy of the solution) lost points: {other}")
    assert not problems, "row 14: " + "; ".join(problems)

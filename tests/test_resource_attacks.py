"""One submission never stops, slows or misleads the class: bad layouts and resource attacks, through the real
``grade batch --jobs 2`` and ``grade``, on a throwaway copy of the kit (see ``tests/attacks/harness.py``).

Run it with ``python -m pytest tests/test_resource_attacks.py -s -rA`` to see what each attack measured.

- ``resource_class``: one batch over a class that mixes honest students (full marks, a half mark, the stubs) with
  every bad layout (special files and folders where modules belong, over-long and formula names, a link to another
  student's folder) and every resource attack (a deep tree, a full disk, memory files, a process flood, namespaces
  through ``clone``, shared memory). The gradebook and summary are written; each honest student has the score they
  get alone; each attack stays within its stated bound (:class:`grader.engine.sandbox.Limits`); nothing is left in
  the shared temporary folders or the run's own.
- ``slow_everywhere``: a submission whose every module sleeps just under the time limit at import and whose every
  function hangs ends within its time budget (``--time-budget``), with a message naming it.

A bound whose layer this machine lacks is skipped with the reason (the tmpfs home and ``clone``'s flags need
namespaces and seccomp; the process count, a user of the submission's own, so root).
"""

from __future__ import annotations

import csv
import dataclasses
import os
import re
import shutil
from pathlib import Path

import pytest

from grader import rubric
from grader.engine import confine, sandbox

from . import caches
from .attacks import harness, snippets
from .attacks.harness import RunDirs

pytestmark = pytest.mark.end_to_end  # every test here runs the kit's commands in real subprocesses

ONLY = "l2_penalty"
L2_FILE = f"{rubric.STUDENT_FUNCTIONS['l2_penalty']}.py"
LONG_NAME = "s" * 252
FORMULA_NAME = '=2+5+HYPERLINK("x","y")'
DEPTH, DISK_FILES, MEMFD_FILES, MOST_PROCESSES = 5000, 128, 96, 4000
LIMITS = sandbox.Limits()
TIME_LIMIT, TIME_BUDGET = 6.0, 40.0        # the slow submission's run
BUDGET_SLACK = 30.0                        # starting the grader, the reference, ending the last child


@dataclasses.dataclass
class ClassRun:
    run: harness.Run
    out: Path
    gradebook: dict[str, dict[str, str]]
    reports: dict[str, dict | None]
    alone: dict[str, float]          # the honest students' scores, each graded alone
    residue: list[str]               # what is left in the shared temporary folders and the run's own
    layers: confine.Layers


def _measured(report: dict | None, what: str) -> tuple[int | None, str]:
    """The number an attack reported as '<what> N' through its l2_penalty, and the whole status."""
    if not report:
        return None, "(no report)"
    messages = [c["message"] for c in report["checks"] if c["id"] == "l2_penalty.values"]
    status = messages[0] if messages else "(no l2_penalty check)"
    found = re.search(rf"{what} (\d+)", status)
    return (int(found.group(1)) if found else None), status


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root, made = harness.scratch_root("resources", Path(tmp_path_factory.mktemp("resources")))
    token = harness.new_token()
    warm = RunDirs(root / "warm").create()
    caches.seed(warm.cache)
    try:
        yield root, token, harness.copy_kit(root / "kit-template"), warm.cache
    finally:
        harness.end_processes([token, str(root)])
        for path, _ in harness.shared_entries().items():
            if token in path:
                os.unlink(path)
        if made:
            shutil.rmtree(root, ignore_errors=True)


def _class(classroom: Path, kit: Path, token: str) -> None:
    solutions, stubs = kit / "solutions", kit / "exercises"
    harness.build_submission(classroom / "honest_full", solutions)
    harness.build_submission(classroom / "honest_half", solutions, bodies={"l2_penalty": "return jnp.sum(w ** 2)"})
    harness.build_submission(classroom / "honest_stubs", stubs)
    # bad layouts: special files and a folder where modules belong, names, a link
    fifo = harness.build_submission(classroom / "layout_fifo", solutions)
    (fifo / L2_FILE).unlink()
    os.mkfifo(fifo / L2_FILE)
    os.mkfifo(fifo / "helpers.py")
    folder = harness.build_submission(classroom / "layout_folder", solutions)
    (folder / "notes.py").mkdir()
    (folder / "relu.py").mkdir(exist_ok=True)
    harness.build_submission(classroom / LONG_NAME, solutions)
    harness.build_submission(classroom / FORMULA_NAME, solutions)
    (classroom / "layout_link").symlink_to(classroom / "honest_full", target_is_directory=True)
    # resource attacks, at import of weight_decay.py
    common = dict(TOKEN=token, ALLOWED_ROOT=str(classroom.parent))
    attacks = {
        "attack_deep_tree": (snippets.DEEP_TREE, dict(DEPTH=DEPTH)),
        "attack_disk": (snippets.DISK, dict(FILES=DISK_FILES)),
        "attack_memfd": (snippets.MEMFD, dict(FILES=MEMFD_FILES)),
        "attack_processes": (snippets.PROCESSES, dict(MOST=MOST_PROCESSES, SLEEP_SECONDS=20)),
        "attack_kernel_calls": (snippets.KERNEL_CALLS, {}),
    }
    for student, (body, values) in attacks.items():
        harness.build_submission(classroom / student, stubs, append={
            "weight_decay": snippets.side_effect(student, body, **common, **values)})


@pytest.fixture(scope="module")
def resource_class(lab) -> ClassRun:
    root, token, template, warm_cache = lab
    kit = harness.copy_kit(root / "class" / "kit", template)
    dirs = RunDirs(root / "class").create(warm_cache=warm_cache)
    classroom, out = dirs.root / "students", dirs.root / "out"
    classroom.mkdir()
    _class(classroom, kit, token)
    shared_before = set(harness.shared_entries())
    run = harness.run_grade(kit, dirs, ["batch", str(classroom), "--jobs", "2", "--out", str(out), "--only", ONLY,
                                        "--quiet", "--accept-code"], timeout=900, markers=[token])
    # in the shared folders: what a child's user owns, or what carries the run's marker (other gradings on this
    # machine may come and go there meanwhile); in the run's own TMPDIR: anything
    residue = sorted(path for path, uid in harness.shared_entries().items() if path not in shared_before
                     and (uid >= confine.CHILD_UID_BASE or token in path)) + [str(p) for p in dirs.tmp.iterdir()]
    gradebook = {}
    if (out / "gradebook.csv").is_file():
        with open(out / "gradebook.csv", newline="") as f:
            gradebook = {row["student"]: row for row in csv.DictReader(f)}
    from grader import batch
    students = [p.name for p in classroom.iterdir()]
    reports = harness.read_reports(out, students, batch.report_stem)
    # the honest students alone, on a fresh copy of the kit
    alone = {}
    for student in ("honest_full", "honest_half", "honest_stubs"):
        one = harness.run_grade(kit, dirs, [str(classroom / student), "--only", ONLY, "--format", "json", "--quiet"],
                                timeout=300, markers=[token])
        alone[student] = one.json()["score"]
    print(f"\nclass of {len(students)}: {run.seconds:.1f} s, parent peak RSS "
          f"{(run.self_maxrss_kib or 0) / 1024:.0f} MiB, largest child {(run.children_maxrss_kib or 0) / 1024:.0f} MiB")
    for student in sorted(reports):
        if student.startswith("attack"):
            print(f"  {student}: {_measured(reports[student], 'x')[1][:200]}")
    return ClassRun(run, out, gradebook, reports, alone, residue, confine.available())


def test_the_batch_writes_its_gradebook_and_summary(resource_class):
    run = resource_class.run
    assert run.status == 0 and not run.timed_out, run.brief()
    assert (resource_class.out / "gradebook.csv").is_file() and (resource_class.out / "class_summary.md").is_file()
    assert not run.survivors, f"processes outlived the batch: {run.survivors}"


def test_honest_students_keep_the_score_they_get_alone(resource_class):
    alone, book = resource_class.alone, resource_class.gradebook
    assert alone["honest_full"] > alone["honest_half"] > alone["honest_stubs"] == 0
    for student, score in alone.items():
        assert float(book[student]["total"]) == round(score, 2), (student, book.get(student))


def test_every_bad_layout_is_its_own_row_with_a_message(resource_class):
    book, reports = resource_class.gradebook, resource_class.reports
    full = resource_class.alone["honest_full"]
    # the module of l2_penalty is a FIFO, notes.py a folder: skipped with a message, the rest graded
    fifo = reports["layout_fifo"]
    assert any(f"{L2_FILE} is not a regular file" in c["message"] for c in fifo["checks"]), fifo["checks"]
    assert float(book["layout_fifo"]["total"]) == 0
    assert float(book["layout_folder"]["total"]) == round(full, 2)
    assert any("notes.py" in line for line in reports["layout_folder"]["review"])
    assert float(book[LONG_NAME]["total"]) == round(full, 2)
    assert float(book["'" + FORMULA_NAME]["total"]) == round(full, 2), (
        "the formula name is a plain cell, with its score")
    assert float(book["layout_link"]["total"]) == 0
    assert "symbolic link" in reports["layout_link"]["checks"][0]["message"]


def test_no_residue_in_shared_or_own_temporary_folders(resource_class):
    assert not resource_class.residue, resource_class.residue


def test_a_deep_tree_is_cleaned_up(resource_class):
    depth, status = _measured(resource_class.reports["attack_deep_tree"], "depth")
    print(f"deep tree: {status}")
    assert depth is not None and depth > 1000, status  # deep enough to break a recursive clean-up


def test_the_home_is_bounded(resource_class):
    if not resource_class.layers.namespaces:
        pytest.skip("the bounded home is a tmpfs in the child's mount namespace: this machine has no namespaces")
    written, status = _measured(resource_class.reports["attack_disk"], "MiB")
    print(f"disk: {status} (bound {LIMITS.home_bytes >> 20} MiB)")
    assert written is not None and written <= LIMITS.home_bytes >> 20, status
    assert "No space left" in status


def test_memory_files_are_refused(resource_class):
    if not resource_class.layers.seccomp:
        pytest.skip("memory files are refused by seccomp: this machine has none")
    held, status = _measured(resource_class.reports["attack_memfd"], "MiB")
    print(f"memory files: {status}")
    assert held == 0 and "Operation not permitted" in status, status


def test_the_process_count_is_bounded(resource_class):
    if not resource_class.layers.user:
        pytest.skip("the process count is per user: only a grader running as root gives each submission its own")
    started, status = _measured(resource_class.reports["attack_processes"], "processes")
    print(f"processes: {status} (bound {LIMITS.processes} processes and threads)")
    assert started is not None and started < LIMITS.processes, status


def test_namespaces_and_shared_memory_are_refused(resource_class):
    if not resource_class.layers.seccomp:
        pytest.skip("the clone flags and shared memory are refused by seccomp: this machine has none")
    _, status = _measured(resource_class.reports["attack_kernel_calls"], "x")
    print(f"kernel calls: {status}")
    for expected in ("newuser EPERM", "newnet EPERM", "clone3 ENOSYS", "shmget EPERM"):
        assert expected in status, status
    if resource_class.layers.landlock_abi:
        assert "devshm EACCES" in status, status


def test_a_slow_submission_ends_within_its_time_budget(lab):
    root, token, template, warm_cache = lab
    kit = harness.copy_kit(root / "slow" / "kit", template)
    dirs = RunDirs(root / "slow").create(warm_cache=warm_cache)
    # the modules together import just within the time limit; then every probe overruns, and every restart
    # imports them again: without a budget, about 11 probes x (limit + imports)
    modules = set(rubric.STUDENT_FUNCTIONS.values())
    slow = snippets.render(snippets.SLOW_EVERYWHERE, IMPORT_SLEEP=round((TIME_LIMIT - 2) / len(modules), 2))
    submission = harness.build_submission(
        dirs.root / "slow_everywhere", kit / "solutions",
        bodies={f: "return _atk_hang()" for f in rubric.STUDENT_FUNCTIONS}, append={m: slow for m in modules})
    run = harness.run_grade(kit, dirs, [str(submission), "--time-limit", f"{TIME_LIMIT:g}", "--time-budget",
                                        f"{TIME_BUDGET:g}", "--accept-code", "--format", "json", "--quiet"],
                            timeout=TIME_BUDGET + 240, markers=[token])
    print(f"slow everywhere: {run.seconds:.1f} s with a budget of {TIME_BUDGET:g} s "
          f"(at the defaults without a budget: about 81 minutes)")
    assert run.status == 0, run.brief()
    report = run.json()
    assert report["score"] == 0
    messages = " | ".join(c["message"] for c in report["checks"])
    assert f"time budget of {TIME_BUDGET:g} s ran out" in messages, messages[:2000]
    assert run.seconds < TIME_BUDGET + BUDGET_SLACK, run.brief()
    assert not run.survivors

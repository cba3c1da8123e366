"""The submission locator (``grader.locate``) on real folders: which folder is graded, what is never followed or
read, and that a hostile tree neither stalls nor crashes it. A FIFO's test runs under an alarm, so a locator that
blocked on it fails instead of hanging the suite."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from grader import locate, rubric
from grader.engine import sandbox

from .conftest import KIT

MODULES = sorted({f"{m}.py" for m in rubric.STUDENT_FUNCTIONS.values()})
NO_PYCACHE = shutil.ignore_patterns("__pycache__", "*.pyc")


@contextlib.contextmanager
def within(seconds: int):
    """Fail the test when its block takes longer than ``seconds`` (a read blocked on a FIFO, say)."""
    def expire(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def exercise_files(folder: Path, names=MODULES, text: str = "# the student's\n") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text(text)
    return folder


def one_line(lines) -> None:
    for line in lines:
        assert not any(ch in line for ch in "\n\r\t"), repr(line)


# --- which folder --------------------------------------------------------------------------------------------

def test_loose_files_at_the_top(tmp_path):
    exercise_files(tmp_path)
    (tmp_path / "notes").mkdir()
    located = locate.find_exercise_folder(tmp_path)
    assert located.folder == tmp_path.resolve() and located.problems == ()
    assert located.note.startswith(".: 4 exercise files at the top level")


def test_exercises_folder(tmp_path):
    exercise_files(tmp_path / "exercises")
    assert locate.find_exercise_folder(tmp_path).folder == tmp_path.resolve() / "exercises"


def test_a_cloned_repository(tmp_path):
    repo = tmp_path / "dl-basics-assignment"
    exercise_files(repo / "exercises")
    (repo / "README.md").write_text("# my work\n")
    exercise_files(repo / ".git" / "objects", ["mlp.py"])  # hidden folders are not looked into
    exercise_files(repo / "exercises" / "__pycache__", ["mlp.py"])
    located = locate.find_exercise_folder(tmp_path)
    assert located.folder == repo.resolve() / "exercises", located
    assert "in an exercises/ folder" in located.note


def test_the_real_exercises_folder_beats_a_decoy_at_the_top(tmp_path):
    exercise_files(tmp_path, ["mlp.py"], "def relu(X):\n    return X +\n")
    exercise_files(tmp_path / "exercises")
    assert locate.find_exercise_folder(tmp_path).folder == tmp_path.resolve() / "exercises"
    # in a repository too; and loose files at the top beat a repository's folder further down
    repo = tmp_path / "other"
    exercise_files(repo, ["mlp.py"])
    exercise_files(repo / "exercises", ["mlp.py"])
    assert locate.find_exercise_folder(repo).folder == repo.resolve() / "exercises"
    shutil.rmtree(tmp_path / "exercises")
    assert locate.find_exercise_folder(tmp_path).folder == tmp_path.resolve()


def test_ties_go_to_the_most_exercise_files_then_the_name(tmp_path):
    exercise_files(tmp_path / "a", ["mlp.py"])
    exercise_files(tmp_path / "b", ["mlp.py", "weight_decay.py"])
    exercise_files(tmp_path / "c", ["mlp.py", "weight_decay.py"])
    assert locate.find_exercise_folder(tmp_path).folder == tmp_path.resolve() / "b"
    exercise_files(tmp_path / "deeper" / "down", MODULES)  # deeper loses, however many it holds
    assert locate.find_exercise_folder(tmp_path).folder == tmp_path.resolve() / "b"


def test_nothing_found(tmp_path):
    (tmp_path / "report.pdf").write_bytes(b"%PDF")
    (tmp_path / "mlp.py").mkdir()  # a folder named like an exercise file is not one
    located = locate.find_exercise_folder(tmp_path)
    assert located.folder is None and "no exercise file" in located.note
    assert locate.find_exercise_folder(tmp_path / "missing").folder is None


# --- never followed, never left ------------------------------------------------------------------------------

def test_a_symbolic_link_to_the_solutions_is_not_followed(tmp_path):
    """The upload holds only ``exercises -> <the kit's solutions>``: nothing to grade, and nothing read there."""
    outside = tmp_path / "kit" / "solutions"
    shutil.copytree(KIT / "solutions", outside, ignore=NO_PYCACHE)
    submission = tmp_path / "submission"
    submission.mkdir()
    (submission / "exercises").symlink_to(outside, target_is_directory=True)
    (submission / "mlp.py").symlink_to(outside / "mlp.py")
    located = locate.find_exercise_folder(submission)
    assert located.folder is None
    assert set(located.problems) == {"exercises is a symbolic link: not followed",
                                     "mlp.py is a symbolic link: not followed"}
    assert "kit" not in located.note + "".join(located.problems)
    files, problems = locate.read_submission_files(submission)
    assert files == {} and problems == ["mlp.py is not a regular file (a symbolic link, not followed): skipped"]


def test_a_name_with_a_newline_and_a_tab_is_skipped(tmp_path):
    """A folder named to forge a line of a listing (newline, tab) is never entered nor chosen; its name is shown
    escaped, on one line."""
    forged = tmp_path / "b\n0\tsource"
    exercise_files(forged / "kit" / "solutions")
    exercise_files(tmp_path / "repo" / "exercises", ["mlp.py"])
    (tmp_path / "repo" / "exercises" / "odd\x1bname.py").write_text("x = 1\n")
    located = locate.find_exercise_folder(tmp_path)
    assert located.folder == tmp_path.resolve() / "repo" / "exercises"
    assert "b\\n0\\tsource has a control character in its name: skipped" in located.problems
    one_line([located.note, *located.problems])
    files, problems = locate.read_submission_files(tmp_path)
    assert sorted(files) == ["repo/exercises/mlp.py"]
    assert problems == ["b\\n0\\tsource has a control character in its name: skipped",
                        "repo/exercises/odd\\x1bname.py has a control character in its name: skipped"]
    with pytest.raises(OSError):
        (tmp_path / ("x" * 256)).mkdir()  # the file system refuses such names: the check stands on its own
    assert locate.bad_name("a" * 256) == "has a name longer than 255 bytes"
    assert locate.bad_name("é" * 128) is not None and locate.bad_name("é" * 127) is None
    assert locate.bad_name("\u200b.py") and locate.bad_name("plain-name_1.py") is None


# --- reading -------------------------------------------------------------------------------------------------

def test_a_fifo_a_folder_and_a_link_named_like_modules_are_skipped_without_blocking(tmp_path):
    folder = exercise_files(tmp_path / "exercises", ["linear_regression.py", "weight_decay.py"])
    os.mkfifo(folder / "helpers.py")
    os.mkfifo(folder / "mlp.py")
    (folder / "notes.py").mkdir()
    (folder / "softmax_regression.py").symlink_to(tmp_path / "nowhere.py")  # dangling
    (folder / "pkg").mkdir()
    (folder / "pkg" / "__init__.py").write_text("")
    with within(10):
        located = locate.find_exercise_folder(tmp_path)
        submission = locate.read_submission(located.folder)
        assert sandbox.submission_files(located.folder) == submission.files
    assert located.folder == folder.resolve()
    assert sorted(submission.files) == ["linear_regression.py", "pkg/__init__.py", "weight_decay.py"]
    assert submission.problems == [
        "helpers.py is not a regular file (a FIFO): skipped",
        "mlp.py is not a regular file (a FIFO): skipped",
        "notes.py is not a regular file (a folder): skipped",
        "softmax_regression.py is not a regular file (a symbolic link, not followed): skipped"]
    assert submission.module_problems() == {
        "mlp": "mlp.py is not a regular file (a FIFO): not graded",
        "softmax_regression": "softmax_regression.py is not a regular file (a symbolic link, not followed): not graded"}


def test_a_skipped_module_says_why_in_the_report(tmp_path):
    """Through the real sandbox: the functions of a module whose file was skipped fail with the reason, the other
    modules load, and a skipped helper is a note for review."""
    folder = tmp_path / "student"
    shutil.copytree(KIT / "solutions", folder, ignore=NO_PYCACHE)
    (folder / "mlp.py").unlink()
    os.mkfifo(folder / "mlp.py")
    os.mkfifo(folder / "helpers.py")
    with within(300):
        run = sandbox.run_probes(folder, ["relu", "l2_penalty"])
    assert run.observations["relu"].errors == {"*": "relu: mlp.py is not a regular file (a FIFO): not graded"}
    assert run.observations["l2_penalty"].errors == {} and run.observations["l2_penalty"].values
    assert run.notes[:2] == ["helpers.py is not a regular file (a FIFO): skipped",
                             "mlp.py is not a regular file (a FIFO): skipped"]


def test_unreadable_and_vanishing_files_are_messages(tmp_path):
    folder = exercise_files(tmp_path, ["mlp.py", "weight_decay.py"])
    (folder / "weight_decay.py").chmod(0)
    files, problems = locate.read_submission_files(folder)
    if os.geteuid() == 0:  # root reads it anyway
        assert sorted(files) == ["mlp.py", "weight_decay.py"] and problems == []
    else:
        assert sorted(files) == ["mlp.py"]
        assert problems == ["weight_decay.py cannot be read (permission denied): skipped"]
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:  # listed, then gone before it is opened
        with pytest.raises(locate._NotRead, match="^vanished while it was read$"):
            locate._read_regular("gone.py", fd, 1 << 20)
    finally:
        os.close(fd)


def test_the_size_cap(tmp_path):
    (tmp_path / "a_small.py").write_text("x = 1\n")
    with open(tmp_path / "b_huge.py", "wb") as f:  # sparse: nothing of it is read
        f.truncate(locate.MAX_SUBMISSION_BYTES + 1)
    (tmp_path / "c_after.py").write_text("y = 2\n")
    with within(10):
        files, problems = locate.read_submission_files(tmp_path)
    assert sorted(files) == ["a_small.py"]
    assert problems == [f"{name} was not read: the submission's files hold more than 20 MiB: skipped"
                        for name in ("b_huge.py", "c_after.py")]
    assert sandbox.MAX_SUBMISSION_BYTES == locate.MAX_SUBMISSION_BYTES == 20 * 1024 * 1024


# --- bounds --------------------------------------------------------------------------------------------------

def test_depth_bound(tmp_path):
    deep = tmp_path.joinpath(*[f"d{i}" for i in range(locate.MAX_DEPTH)])
    exercise_files(deep, ["mlp.py"])
    assert locate.find_exercise_folder(tmp_path).folder == deep.resolve()
    shutil.rmtree(tmp_path / "d0")
    deeper = tmp_path.joinpath(*[f"d{i}" for i in range(locate.MAX_DEPTH + 1)])
    exercise_files(deeper, ["mlp.py"])
    located = locate.find_exercise_folder(tmp_path)
    assert located.folder is None
    assert located.problems == (f"{'/'.join(deeper.relative_to(tmp_path).parts)} is more than 6 folders down: "
                                "skipped",)


def test_entry_bound(tmp_path):
    crowd = tmp_path / "a-crowd"
    crowd.mkdir()
    for i in range(locate.MAX_ENTRIES + 5):
        (crowd / f"f{i:05d}.txt").touch()
    exercise_files(tmp_path / "z-late" / "exercises", ["mlp.py"])
    with within(20):
        located = locate.find_exercise_folder(tmp_path)
        files, problems = locate.read_submission_files(tmp_path)
    assert located.folder is None  # the walk stopped in the crowd, before z-late
    assert located.problems == ("more than 10,000 names in the submission: the rest were not looked at",)
    assert files == {} and problems == list(located.problems)


# --- python -m grader.locate ---------------------------------------------------------------------------------

def test_copy_to_prints_one_safe_line_per_note(tmp_path):
    submission = tmp_path / "submission"
    exercise_files(submission / "repo" / "exercises", MODULES)
    exercise_files(submission / "z\n0\tsource" / "kit" / "solutions")
    os.mkfifo(submission / "repo" / "exercises" / "helpers.py")
    (submission / "repo" / "exercises" / "data").mkdir()
    (submission / "repo" / "exercises" / "data" / "table.csv").write_text("1,2\n")
    dest, notes = tmp_path / "work" / "exercises", tmp_path / "work" / "notes.md"
    (tmp_path / "work").mkdir()
    proc = subprocess.run([sys.executable, "-I", "-m", "grader.locate", "--copy-to", str(dest), "--notes",
                           str(notes), str(submission)], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "grading submission/repo/exercises",
        "  repo/exercises: 4 exercise files in an exercises/ folder",
        "  z\\n0\\tsource has a control character in its name: skipped",
        "  helpers.py is not a regular file (a FIFO): skipped"]
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*")) == MODULES
    assert notes.read_text() == ("**Some of your files were not graded:**\n\n"
                                 "- helpers\\.py is not a regular file \\(a FIFO\\)\\: skipped\n")

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "exercises").symlink_to(KIT / "solutions", target_is_directory=True)
    located, submission = locate.copy_submission(empty, tmp_path / "nothing")
    assert located.folder is None and submission is None and list((tmp_path / "nothing").iterdir()) == []
    text = locate.student_notes(located, submission)
    assert text.startswith("**No exercise files were found in your submission**")
    assert "- exercises is a symbolic link\\: not followed" in text and str(KIT) not in text

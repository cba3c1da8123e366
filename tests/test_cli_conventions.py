"""What users of a command line expect of the real `grade` (in a subprocess): `grade --help` lists the commands
and each has its own help; the grader's own failures (an output it cannot write, a reference that does not load
or raises) exit with status 2 and one line, never a traceback and never points the student loses."""

from __future__ import annotations

import json
import shutil

import pytest

from grader import cli
from grader.reports.result import CheckResult, Result

from . import submissions
from .conftest import grades_of, run

pytestmark = pytest.mark.end_to_end  # every test here runs the kit's commands in real subprocesses


def grade(*args: str):
    return run("-m", "grader", *args, "--quiet")


def one_line_grader_error(proc, *phrases: str) -> str:
    """The process exited with status 2 and said why on one line of stderr (no traceback); that line."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("grade"), proc.stderr[-3000:]
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    return lines[0]


# --- help --------------------------------------------------------------------------------------------------

def test_help_lists_every_command_and_each_has_its_own_help(capsys):
    proc = run("-m", "grader", "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: grade PATH [options]")
    for option in ("--only", "--reference", "--time-limit", "--dataset", "--report-dir", "--secret-file"):
        assert option in proc.stdout, option
    sub = run("-m", "grader", "batch", "--help")
    assert sub.returncode == 0 and sub.stdout.startswith("usage: grade batch"), sub.stderr
    for name in ("batch", "release", "render", "warm", "diff", "gradescope"):
        assert name in cli.COMMANDS
        assert any(line.split()[:1] == [name] for line in proc.stdout.splitlines()), name
        with pytest.raises(SystemExit) as exit_:  # the other commands' help in this process (no JAX start-up)
            cli.main([name, "--help"])
        assert exit_.value.code == 0, name
        assert capsys.readouterr().out.startswith(f"usage: grade {name}"), name


def test_a_path_is_still_required_and_a_command_rejects_unknown_options(tmp_path):
    proc = run("-m", "grader")
    assert proc.returncode == 2 and "the following arguments are required: path" in proc.stderr
    proc = run("-m", "grader", "batch", str(tmp_path), "--format", "json")
    assert proc.returncode == 2 and "unrecognized arguments: --format" in proc.stderr


def test_batch_takes_the_shared_options_but_not_the_single_report_ones():
    text = run("-m", "grader", "batch", "--help").stdout
    for option in ("--only", "--reference", "--time-limit", "--dataset", "--data-dir", "--secret-file",
                   "--require-isolation", "--quiet", "--jobs", "--out"):
        assert option in text, option
    for option in ("--report-dir", "--format", "--fail-under"):
        assert option not in text, option


# --- outputs that cannot be written ------------------------------------------------------------------------

def test_an_unwritable_output_is_the_graders_error(kit, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    proc = grade(str(kit / "solutions"), "--only", "relu", "--format", "json", "--output", str(blocker / "r.json"))
    one_line_grader_error(proc, "cannot write the report to", str(blocker / "r.json"))
    proc = grade(str(kit / "solutions"), "--only", "relu", "--format", "json", "--output", str(tmp_path / "r.json"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["score"] == report["max_score"] > 0 and {c["target"] for c in report["checks"]} >= {"relu"}


def test_render_to_an_unwritable_output_is_the_graders_error(tmp_path):
    saved = tmp_path / "report.json"
    saved.write_text(Result((CheckResult("relu.values", "relu", 0.0, 4.0, False, "wrong"),)).to_json())
    proc = run("-m", "grader", "render", str(saved), "--format", "markdown", "--output", str(tmp_path / "no" / "x.md"))
    one_line_grader_error(proc, "cannot write", str(tmp_path / "no" / "x.md"))
    proc = run("-m", "grader", "render", str(saved), "--format", "markdown", "--output", str(tmp_path / "x.md"))
    assert proc.returncode == 0 and "relu" in (tmp_path / "x.md").read_text()


def test_batch_into_an_unwritable_folder_stops_before_grading(kit, tmp_path):
    classroom = tmp_path / "class"
    shutil.copytree(kit / "solutions", classroom / "alice", ignore=shutil.ignore_patterns("__pycache__"))
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    proc = run("-m", "grader", "batch", str(classroom), "--only", "relu", "--out", str(blocker / "grades"), "--quiet")
    one_line_grader_error(proc, "cannot write the gradebook into", str(blocker / "grades"))
    assert not (classroom / "grades").exists() and not grades_of(classroom).exists()


# --- a broken reference ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def references(tmp_path_factory):
    """Copies of solutions/: as they are, with a relu that raises, and with an mlp.py that does not parse."""
    root = tmp_path_factory.mktemp("references")
    good = submissions.make(root / "good")
    raising = submissions.make(root / "raising", bodies={"relu": "raise ValueError('the reference has a bug')"})
    unparsable = submissions.make(root / "unparsable")
    mlp = unparsable / "mlp.py"
    mlp.write_text(mlp.read_text().replace("def relu(X):", "def relu(X:"))
    return {"good": good, "raising": raising, "unparsable": unparsable}


def test_a_sound_reference_grades_as_usual(kit, references):
    proc = grade(str(kit / "solutions"), "--only", "relu", "--reference", str(references["good"]), "--format", "json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report["score"] == report["max_score"] > 0


def test_a_reference_that_raises_on_a_probe_is_the_graders_error_not_the_students(kit, references):
    proc = grade(str(kit / "solutions"), "--only", "relu", "--reference", str(references["raising"]),
                 "--format", "json")
    line = one_line_grader_error(proc, str(references["raising"]), "failed on the probe relu",
                                 "the reference has a bug")
    assert line.startswith("grade: the reference (")
    assert proc.stdout == ""  # no report: no student is scored against it


def test_a_reference_that_does_not_load_is_the_graders_error(kit, references):
    proc = grade(str(kit / "solutions"), "--only", "relu", "--reference", str(references["unparsable"]))
    one_line_grader_error(proc, str(references["unparsable"]), "does not load", "mlp.py")
    assert proc.stdout == ""


def test_batch_with_a_reference_that_raises_stops_before_any_student_is_scored(kit, references, tmp_path):
    classroom = tmp_path / "class"
    shutil.copytree(kit / "solutions", classroom / "alice", ignore=shutil.ignore_patterns("__pycache__"))
    proc = run("-m", "grader", "batch", str(classroom), "--only", "relu", "--reference", str(references["raising"]),
               "--quiet")
    one_line_grader_error(proc, "failed on the probe relu", str(references["raising"]))
    assert not (classroom / "grades" / "alice.json").exists() and not (classroom / "grades" / "gradebook.csv").exists()

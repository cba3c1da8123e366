"""The course file (grading.toml): read by every front end, refused when it cannot be used, recorded in every
report, and never allowed to grade students against a rubric the reference fails."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from grader import course_file as course
from grader import rubric

from .conftest import KIT, run

NO_PYCACHE = shutil.ignore_patterns("__pycache__")
COURSE = """
[limits]
time_limit = 30

[checks."train.mlp"]
points = 10
threshold = 0.95

[checks."relu.values"]
points = 5

[hidden]
relu = 4

[forbidden]
relu = ["jax.nn.relu", "jax.nn.gelu"]
"""


@pytest.fixture(autouse=True)
def kit_rubric_afterwards():
    yield
    course.apply(course.KIT_RUBRIC)  # a test that applied a course leaves the process's rubric as it found it


def _refused(text: str) -> str:
    with pytest.raises(course.CourseFileError) as info:
        course.parse(text)
    return str(info.value)


def test_every_unusable_setting_is_refused_with_its_key():
    assert "[grading]: unknown section" in _refused("[grading]\nx = 1\n")
    assert "[limits] time_limt: unknown key" in _refused("[limits]\ntime_limt = 3\n")
    assert "must be > 0" in _refused("[limits]\ntime_budget = 0\n")
    assert "did you mean train.mlp?" in _refused('[checks."train.mpl"]\npoints = 3\n')
    assert "is not a number" in _refused('[checks."relu.values"]\npoints = "3"\n')
    assert "only the training checks do" in _refused('[checks."relu.values"]\nthreshold = 0.5\n')
    assert "is negative" in _refused('[checks."relu.values"]\npoints = -1\n')
    assert "not a student function" in _refused("[hidden]\nrelux = 2\n")
    assert "list of dotted names" in _refused('[forbidden]\nrelu = "jax.nn.relu"\n')
    assert "not one of" in _refused('[data]\ndataset = "mnist"\n')
    assert "not valid TOML" in _refused("[checks\n")


def test_a_course_sets_the_rubric_and_the_kit_rubric_restores_it():
    kit_max, kit_hidden = rubric.MAX_SCORE, rubric.HIDDEN_MAX_SCORE
    settings = course.parse(COURSE)
    course.apply(settings)
    assert rubric.BY_ID["train.mlp"].points == 10 and rubric.BY_ID["train.mlp"].threshold == 0.95
    assert rubric.BY_ID["train.mlp"].threshold_from == "grading.toml"
    assert rubric.MAX_SCORE == kit_max + 4 + 2 and rubric.HIDDEN_MAX_SCORE == kit_hidden + 2
    assert rubric.FORBIDDEN_SHORTCUTS["relu"] == ("jax.nn.relu", "jax.nn.gelu", "grader")
    # the hidden check of relu judges the course's public checks
    assert rubric.BY_ID["relu.hidden"].judge.keywords["public"][0].points == 5
    assert course.Course.from_json(settings.to_json()) == settings  # what the child receives
    course.apply(course.KIT_RUBRIC)
    assert rubric.MAX_SCORE == kit_max and rubric.BY_ID["train.mlp"].points == 6


@pytest.fixture(scope="module")
def course_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("course")
    (folder / course.COURSE_FILE).write_text(COURSE)
    shutil.copytree(KIT / "solutions", folder / "alice", ignore=NO_PYCACHE)
    return folder


@pytest.mark.end_to_end
def test_grade_reads_the_course_file_beside_it(course_folder):
    """`grade` in a folder holding grading.toml: the course's points, limits and digest in the report."""
    proc = run("-m", "grader", str(course_folder / "alice"), "--only", "relu", "--format", "json", "--quiet",
               cwd=course_folder)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    points = {c["id"]: c["max_points"] for c in report["checks"]}
    assert points["relu.values"] == 5 and points["train.mlp"] == 10
    assert report["score"] == report["max_score"] == 19  # 5 + 3 + 1 + 10: the solutions reach 0.95
    assert report["environment"]["course"]["sha256"] == course.parse(COURSE).sha256
    assert "30 s per check" in report["isolation"]["time_limits"]
    # graded from the kit's folder, the same code gets the kit's rubric, and `grade diff` says why they differ
    kit_report = run("-m", "grader", str(course_folder / "alice"), "--only", "relu", "--format", "json", "--quiet")
    (course_folder / "old.json").write_text(kit_report.stdout)
    (course_folder / "new.json").write_text(proc.stdout)
    diff = run("-m", "grader", "diff", str(course_folder / "old.json"), str(course_folder / "new.json"))
    assert "different course files" in diff.stdout and "the kit's rubric before" in diff.stdout, diff.stdout


@pytest.mark.end_to_end
def test_the_reference_must_pass_the_course(course_folder, tmp_path):
    """A threshold the solutions cannot reach stops grading (status 2), naming the check and showing the
    threshold as configured; no report is written."""
    (tmp_path / course.COURSE_FILE).write_text('[checks."train.mlp"]\nthreshold = 0.999\n')
    proc = run("-m", "grader", str(course_folder / "alice"), "--only", "relu", "--quiet", cwd=tmp_path)
    assert proc.returncode == 2 and not proc.stdout
    assert "fails train.mlp under grading.toml" in proc.stderr and "threshold 0.999, set in grading.toml" in proc.stderr
    assert "short of the threshold" in proc.stderr  # what happened, not "did not learn"
    batch = run("-m", "grader", "batch", str(course_folder), "--only", "relu", "--quiet",
                "--course", str(tmp_path / course.COURSE_FILE), "--out", str(tmp_path / "out"))
    assert batch.returncode == 2 and "fails train.mlp" in batch.stderr


@pytest.mark.end_to_end
def test_a_bad_course_file_stops_every_front_end(tmp_path):
    (tmp_path / course.COURSE_FILE).write_text('[checks."relu.value"]\npoints = 3\n')
    for args in (["rubric"], [str(KIT / "solutions"), "--only", "relu"], ["batch", str(tmp_path), "--only", "relu"]):
        proc = run("-m", "grader", *args, cwd=tmp_path)
        assert proc.returncode == 2 and "did you mean relu.values?" in proc.stderr, (args, proc.stderr)


@pytest.mark.end_to_end
def test_grade_rubric_lists_the_course(course_folder):
    proc = run("-m", "grader", "rubric", cwd=course_folder)
    assert proc.returncode == 0, proc.stderr
    line = next(line for line in proc.stdout.splitlines() if line.startswith("train.mlp "))
    assert " 10 " in line and "threshold 0.95" in line
    assert "rubric: grading.toml (sha256" in proc.stdout


@pytest.mark.end_to_end
def test_pytest_exercises_reads_the_course_file(course_folder, tmp_path):
    """The student's self-check grades with the course the release shipped beside the exercises."""
    repo = tmp_path / "repo"
    shutil.copytree(KIT / "solutions", repo / "exercises", ignore=NO_PYCACHE)
    shutil.copy(KIT / "exercises" / "conftest.py", repo / "exercises" / "conftest.py")
    for test in (KIT / "exercises").glob("test_*.py"):
        shutil.copy(test, repo / "exercises" / test.name)
    (repo / course.COURSE_FILE).write_text('[checks."train.mlp"]\nthreshold = 0.999\n')
    proc = run("-m", "pytest", "exercises/", "--dl-only", "relu", "-p", "no:cacheprovider", "-q", cwd=repo)
    assert proc.returncode != 0 and "fails train.mlp under grading.toml" in proc.stdout + proc.stderr, \
        (proc.stdout[-2000:], proc.stderr[-2000:])


@pytest.mark.end_to_end
def test_release_ships_the_course_file(course_folder, tmp_path):
    proc = run("-m", "grader", "release", str(tmp_path / "template"), cwd=course_folder)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "template" / course.COURSE_FILE).read_text() == COURSE

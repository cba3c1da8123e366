"""Shared fixtures of the kit's own tests."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from grader.engine import compile_cache, references

KIT = Path(__file__).resolve().parent.parent
WORKERS = 2  # the suite's processes already keep a core busy each; more workers than cores only queue


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    """The kit's suite on both cores of a 2-core machine (pytest-xdist, one worker per test file, so a module's
    expensive fixtures run once), with skip reasons and the 25 slowest steps in the summary so the cost stays
    visible. Only the suite's own runs: ``pytest exercises/`` never loads this file. ``-n 0`` (or any ``-n``)
    on the command line wins."""
    if hasattr(config, "workerinput") or not config.pluginmanager.hasplugin("xdist"):
        return
    if config.option.numprocesses is None and config.option.dist == "no":
        config.option.numprocesses = min(WORKERS, os.cpu_count() or 1)
        config.option.dist = "loadfile"
    if config.option.durations is None:
        config.option.durations = 25
    if "s" not in config.option.reportchars:
        config.option.reportchars += "s"


# The longest files first (1-4 minutes each on one core), so the two workers end together. pytest-xdist hands
# each worker its first three files in this order, so the two longest go to different workers.
LONGEST_FIRST = ("test_nbgrader.py", "test_gradescope.py", "test_attacks.py", "test_grade_cli.py", "test_release.py",
                 "test_pytest_frontend.py", "test_nbgrader_hidden.py", "test_resource_attacks.py",
                 "test_checks_both_ways.py", "test_first_run.py", "test_bank.py", "test_figures.py",
                 "test_parent_memory.py", "test_cli_conventions.py", "test_gradebook.py", "test_hidden_cli.py",
                 "test_course_file.py", "test_hidden.py", "test_seed_attacks.py", "test_dashboard.py")
_RANK = {name: i for i, name in enumerate(LONGEST_FIRST)}


def pytest_addoption(parser):
    parser.addoption("--full", action="store_true",
                     help="run every end-to-end test (the default runs every unit and in-process test, the smoke "
                          "tests and this week's sample of the other end-to-end tests)")
    parser.addoption("--sample", default=None, metavar="KEY",
                     help="draw the end-to-end sample with KEY instead of this ISO week (e.g. 2026-W49)")


def pytest_configure(config):
    """Stop at once, with the remedy, where an install of an older kit loads the grader's plugin into every pytest
    run (a ``pytest11`` entry point, which this pyproject.toml does not declare): ``pytest exercises/`` would then
    load the plugin twice and fail."""
    if config.pluginmanager.get_plugin("dl_basics_grader") is not None:
        pytest.exit("the installed dl-basics-grader predates this checkout: it still loads the grader's pytest "
                    "plugin into every pytest run; install the kit again (python3 -m pip install -e .), or run "
                    "with -p no:dl_basics_grader", returncode=pytest.ExitCode.USAGE_ERROR)


# The end-to-end tier: the end-to-end test files are dealt, longest first, into SAMPLE_ONE_IN groups, and a run takes
# the group of its ISO week (a file's tests stay together: they share its costly fixtures, a built course, a graded
# class). Every file runs within SAMPLE_ONE_IN weeks of CI, and the longest files fall into different weeks.
SAMPLE_ONE_IN = 6
_TIER = pytest.StashKey[tuple]()  # what the tier left out, for the header


def sample_key(config) -> str:
    """The key the end-to-end sample is drawn with: ``--sample``, else this ISO week (``2026-W49``)."""
    if config.getoption("sample"):
        return config.getoption("sample")
    year, week, _ = datetime.date.today().isocalendar()
    return f"{year}-W{week:02d}"


def sample_group(key: str) -> int:
    """The group of end-to-end files the sample ``key`` takes: its week modulo SAMPLE_ONE_IN for ``YYYY-Www``, a
    hash of it otherwise."""
    year, _, week = key.partition("-W")
    if year.isdigit() and week.isdigit():
        return int(week) % SAMPLE_ONE_IN
    return zlib.crc32(key.encode()) % SAMPLE_ONE_IN


def runs_everything(config) -> bool:
    """Whether this run takes every test: ``--full``, or files or tests named on the command line
    (``python -m pytest tests/test_nbgrader.py``)."""
    return config.getoption("full") or config.args_source != pytest.Config.ArgsSource.TESTPATHS


def sampled_files(items, key: str) -> set[str]:
    """The end-to-end test files in the sample ``key``: the files dealt in turn (longest first, by
    ``LONGEST_FIRST``, then by name) into SAMPLE_ONE_IN groups, and the group of ``key``."""
    files = sorted({item.path.name for item in items if item.get_closest_marker("end_to_end")},
                   key=lambda name: (_RANK.get(name, len(_RANK)), name))
    group = sample_group(key)
    return {name for i, name in enumerate(files) if i % SAMPLE_ONE_IN == group}


def tier(config, items) -> tuple[list, list, set[str]]:
    """The tests this run keeps, those it leaves out, and the sampled end-to-end files: every test that is not
    marked ``end_to_end``, every ``smoke`` test, and the tests of the sampled files; every test when
    :func:`runs_everything`."""
    if runs_everything(config):
        return list(items), [], set()
    sampled = sampled_files(items, sample_key(config))
    keep, drop = [], []
    for item in items:
        e2e = item.get_closest_marker("end_to_end") is not None
        smoke = item.get_closest_marker("smoke") is not None
        (keep if not e2e or smoke or item.path.name in sampled else drop).append(item)
    return keep, drop, sampled


def pytest_collection_modifyitems(config, items):
    """Keep this run's tier (:func:`tier`), then run the longest test files first (a stable sort: each file keeps
    its own order)."""
    keep, drop, sampled = tier(config, items)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
    config.stash[_TIER] = (len(drop), sample_key(config), sampled)
    items.sort(key=lambda item: _RANK.get(item.path.name, len(_RANK)))


def pytest_report_collectionfinish(config, start_path, items):
    """Which end-to-end files the tier took, and how many tests it left out (a run in one process; with
    pytest-xdist the workers collect, and :func:`pytest_report_header` says which group runs)."""
    dropped, key, sampled = config.stash.get(_TIER, (0, "", set()))
    if dropped:
        return (f"end-to-end tests: the smoke tests and the sample {key} ({', '.join(sorted(sampled))}); {dropped} "
                "others left out (python -m pytest --full runs every test)")
    return None


def pytest_report_header(config):
    """The tier of this run, in the header every run prints (the controller's, under pytest-xdist)."""
    if runs_everything(config):
        return "tests: every test (--full, or files named)"
    key = sample_key(config)
    return (f"tests: every unit and in-process test, the smoke tests and end-to-end group {sample_group(key) + 1} of "
            f"{SAMPLE_ONE_IN} (sample {key}); python -m pytest --full runs every test")


@pytest.fixture(scope="session", autouse=True)
def warm_compilation_cache():
    """Fill JAX's compilation cache once, with trusted code (``grade warm``): every sandboxed child of the
    suite reads it, as an instructor's machine would after ``grade warm``."""
    compile_cache.ensure_warm()


@pytest.fixture(scope="session")
def kit() -> Path:
    return KIT


@pytest.fixture(scope="session")
def reference_obs():
    """Observations of the kit's solutions on every probe (computed once)."""
    return references.observations()


@pytest.fixture(scope="session")
def solution_functions():
    return references.functions()


def grades_of(classroom: Path) -> Path:
    """Where ``grade batch CLASSROOM`` writes without ``--out``: ``CLASSROOM-grades`` beside it."""
    return classroom.parent / f"{classroom.name}-grades"


def run(*args: str, cwd: Path = KIT, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run a command in a real subprocess and capture its output."""
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)

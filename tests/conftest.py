"""Shared fixtures of the kit's own tests."""

from __future__ import annotations

import os
import subprocess
import sys
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


def pytest_configure(config):
    """Stop at once, with the remedy, where an install of an older kit loads the grader's plugin into every pytest
    run (its ``pytest11`` entry point, which pyproject.toml no longer declares): ``pytest exercises/`` would then
    load the plugin twice and fail."""
    if config.pluginmanager.get_plugin("dl_basics_grader") is not None:
        pytest.exit("the installed dl-basics-grader predates this checkout: it still loads the grader's pytest "
                    "plugin into every pytest run; install the kit again (python3 -m pip install -e .), or run "
                    "with -p no:dl_basics_grader", returncode=pytest.ExitCode.USAGE_ERROR)


# The longest files first (1-4 minutes each on one core), so the two workers end together. pytest-xdist hands
# each worker its first three files in this order, so the two longest go to different workers.
LONGEST_FIRST = ("test_nbgrader.py", "test_grade_cli.py", "test_first_run.py", "test_bank.py",
                 "test_checks_both_ways.py", "test_attacks.py", "test_authorship.py", "test_gradescope.py",
                 "test_hidden_cli.py", "test_seed_attacks.py", "test_nbgrader_hidden.py",
                 "test_container_attacks.py", "test_release.py", "test_hidden.py")


def pytest_collection_modifyitems(config, items):
    """Run the longest test files first (a stable sort: each file keeps its own order)."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


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

"""Shared fixtures of the kit's own tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from grader import compile_cache, grading

KIT = Path(__file__).resolve().parent.parent


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
    return grading.reference_observations()


@pytest.fixture(scope="session")
def solution_functions():
    return grading.reference_functions()


def run(*args: str, cwd: Path = KIT, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run a command in a real subprocess and capture its output."""
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)

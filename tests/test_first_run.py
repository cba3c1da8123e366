"""A student's first run: it fills the compilation cache itself (once, with trusted code, saying so), a failure to
fill never stops grading, the help answers without starting JAX, and the student's install is the small one."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import tomllib

import pytest

from grader.engine import compile_cache

from .conftest import KIT

NOTICE = "filling the compilation cache once"


def python(*args: str, env: dict | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=KIT, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, env=env)


# --- no JAX for the help -------------------------------------------------------------------------------------

def test_the_cli_and_the_pytest_plugin_import_no_jax():
    proc = python("-c", "import sys, grader.cli, grader.pytest_plugin; print('jax' in sys.modules)")
    assert proc.returncode == 0 and proc.stdout.strip() == "False", proc.stderr[-3000:]


def test_grade_help_imports_no_jax():
    proc = python("-X", "importtime", "-m", "grader", "--help")
    assert proc.returncode == 0 and proc.stdout.startswith("usage: grade PATH [options]"), proc.stderr[-3000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "grader.cli" in imported
    assert not {name for name in imported if name == "jax" or name.startswith(("jax.", "jaxlib"))}


def test_pytest_help_imports_no_jax():
    proc = python("-X", "importtime", "-m", "pytest", "exercises/", "--help", "-p", "no:cacheprovider")
    assert proc.returncode == 0 and "--dl-only" in proc.stdout, proc.stderr[-3000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "grader.options" in imported and "jax" not in imported  # the plugin's options, without JAX


# --- the first run fills the cache ---------------------------------------------------------------------------

@pytest.mark.end_to_end
def test_the_first_grade_fills_a_cold_cache_and_the_second_reads_it(tmp_path):
    """A cold cache (a private XDG_CACHE_HOME, as a student's machine before any run): the first `grade` fills it
    with its one-line notice and grades; the second finds it ready and says nothing of it."""
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    env.pop("DL_BASICS_NO_CACHE", None)
    first = python("-m", "grader", "solutions", "--only", "relu", "--format", "json", env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    notices = [line for line in first.stderr.splitlines() if NOTICE in line]
    assert len(notices) == 1 and "later runs start faster" in notices[0], first.stderr[-3000:]
    folder = next((tmp_path / "cache" / "dl-basics-grader").glob("jax-compile-*"))
    assert f"kit {compile_cache.kit_version()}" in (folder / "READY-digits").read_text()
    assert '"score"' in first.stdout
    second = python("-m", "grader", "solutions", "--only", "relu", "--format", "json", env=env)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "compilation cache" not in second.stderr, second.stderr[-3000:]
    assert second.stdout == first.stdout  # the same grade, cache or not


def _fake_warm(calls: list, seconds: float = 0.0, fail: bool = False):
    def warm(data_json=None):
        calls.append(data_json)
        time.sleep(seconds)
        if fail:
            raise subprocess.CalledProcessError(1, ["python"], stderr=b"Traceback ...\nMemoryError: out of memory\n")
        folder = compile_cache._shared_folder()
        (folder / f"{compile_cache.READY}-digits").write_text(compile_cache._marker_text())
        return folder
    return warm


def test_two_processes_at_once_fill_the_cache_once(tmp_path, monkeypatch):
    """The lock file: the second waits for the first (saying so) and then finds the cache ready."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("DL_BASICS_NO_CACHE", raising=False)
    calls, said = [], []
    monkeypatch.setattr(compile_cache, "warm", _fake_warm(calls, seconds=1.0))
    threads = [threading.Thread(target=compile_cache.fill_if_needed, args=(None, said.append)) for _ in range(2)]
    for t in threads:
        t.start()
        time.sleep(0.2)
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert sum(NOTICE in line for line in said) == 1
    assert sum("waiting for another process" in line for line in said) == 1
    assert compile_cache.fill_if_needed(None, said.append) is False and len(calls) == 1


def test_a_failed_fill_never_stops_grading_and_is_not_retried(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("DL_BASICS_NO_CACHE", raising=False)
    calls, said = [], []
    monkeypatch.setattr(compile_cache, "warm", _fake_warm(calls, fail=True))
    assert compile_cache.fill_if_needed(None, said.append) is False
    assert said[-1].startswith("could not fill the compilation cache (MemoryError: out of memory)"), said
    assert compile_cache.fill_if_needed(None, said.append) is False and len(calls) == 1  # marked: not again
    monkeypatch.setattr(compile_cache, "warm", _fake_warm(calls))
    assert compile_cache.ensure_warm() is True and len(calls) == 2  # grade warm (or a batch) still fills it


def test_a_cache_of_another_kit_version_is_filled_again(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("DL_BASICS_NO_CACHE", raising=False)
    folder = compile_cache._shared_folder()
    (folder / f"{compile_cache.READY}-digits").write_text("filled by trusted code\nkit 0.0.1\n")
    assert compile_cache.ready_directory("digits") == folder  # still readable by the children meanwhile
    calls = []
    monkeypatch.setattr(compile_cache, "warm", _fake_warm(calls))
    assert compile_cache.fill_if_needed(None, lambda line: None) is True and len(calls) == 1
    assert compile_cache.ready_for_this_kit("digits")


@pytest.mark.end_to_end
def test_no_cache_means_no_fill(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("DL_BASICS_NO_CACHE", "1")
    calls = []
    monkeypatch.setattr(compile_cache, "warm", _fake_warm(calls))
    assert compile_cache.fill_if_needed(None, lambda line: None) is False and calls == []


# --- the student's install -----------------------------------------------------------------------------------

def test_the_student_extra_is_the_small_install():
    project = tomllib.loads((KIT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    student = extras["student"]
    names = {req.split("==")[0].split("[")[0].lower() for req in student}
    assert "pytest" in names and not names & {"nbgrader", "dask", "jupyterlab", "notebook"}
    base = {req.split("==")[0].lower(): req for req in project["dependencies"]}
    for req in student:  # a pin named in both places is the same pin
        assert base.get(req.split("==")[0].lower(), req) == req
    assert any("student" in req for req in extras["test"])  # the kit's tests install what a student does


def test_a_copy_of_the_cache_folder_serves_the_programs_the_fill_stored(tmp_path):
    """The keys leave out the folder's path: a child that reads a copy of the cache (a private cache folder is copied
    into the submission's temporary folder) finds what was stored under the original."""
    import shutil

    code = "import jax.numpy as jnp; (jnp.arange(7.0) * 3).block_until_ready()"
    original, copy = tmp_path / "original", tmp_path / "copy"
    original.mkdir()

    def run(folder):
        env = dict(os.environ, **compile_cache.settings(folder), JAX_PLATFORMS="cpu", JAX_LOG_COMPILES="1")
        proc = python("-c", code, env=env, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.stderr

    assert "Persistent compilation cache hit" not in run(original)
    shutil.copytree(original, copy)
    assert "Persistent compilation cache miss" not in (copied := run(copy)) and "cache hit" in copied

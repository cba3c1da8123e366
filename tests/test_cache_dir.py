"""Every cache of the kit lives in one folder, :func:`grader.engine.cache_dir.root`, which follows
``XDG_CACHE_HOME``."""

from __future__ import annotations

from pathlib import Path

from grader.data import datasets
from grader.engine import cache_dir, compile_cache, references, sandbox


def test_every_cache_is_under_the_one_root(tmp_path, monkeypatch):
    monkeypatch.delenv(datasets.DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    root = tmp_path / "xdg" / "dl-basics-grader"
    assert cache_dir.root() == root
    folders = [compile_cache.directory(), references.disk_cache(None, datasets.DIGITS),
               datasets.fashion_mnist_cache_dir()]
    assert [f.parent for f in folders] == [root] * 3
    assert str(root) in sandbox._protected_paths(tmp_path / "class" / "alice")


def test_root_without_xdg_cache_home(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_dir.root() == tmp_path / ".cache" / "dl-basics-grader"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative")  # not absolute: ignored, as the XDG spec says
    assert cache_dir.root() == Path(tmp_path) / ".cache" / "dl-basics-grader"

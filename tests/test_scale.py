"""`grade batch --scheduler local`: the same class graded on a Dask LocalCluster of 2 workers (over TLS with
temporary certificates) gives the same gradebook and reports as the local pool, byte for byte."""

from __future__ import annotations

import csv
import io
import shutil

import pytest

from . import submissions
from .conftest import KIT, run

pytestmark = pytest.mark.end_to_end  # every test here runs the kit's commands in real subprocesses

pytest.importorskip("distributed", reason="the 'scale' extra (Dask) is not installed")

ONLY = "relu,l2_penalty"


def test_dask_local_cluster_matches_the_local_pool(tmp_path):
    classroom = tmp_path / "class"
    submissions.make(classroom / "ada")  # full marks
    shutil.copytree(KIT / "exercises", classroom / "bo", ignore=shutil.ignore_patterns("__pycache__"))  # stubs
    submissions.make(classroom / "cy", bodies={"relu": "return jnp.abs(X)", "l2_penalty": "return jnp.sum(w ** 2)"})
    outputs = {}
    for name, extra in (("pool", []), ("dask", ["--scheduler", "local"])):
        out = tmp_path / name
        proc = run("-m", "grader", "batch", str(classroom), "--jobs", "2", "--only", ONLY, "--out", str(out),
                   "--quiet", *extra)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert " - INFO - " not in proc.stderr  # Dask's logging stays quiet
        outputs[name] = out
    pool, dask = outputs["pool"], outputs["dask"]
    assert (pool / "gradebook.csv").read_text() == (dask / "gradebook.csv").read_text()
    for student in ("ada", "bo", "cy"):
        assert (pool / f"{student}.json").read_text() == (dask / f"{student}.json").read_text()
        assert (pool / f"{student}.md").read_text() == (dask / f"{student}.md").read_text()
    assert (pool / "class_summary.md").read_text() == (dask / "class_summary.md").read_text()
    rows = {r["student"]: r for r in csv.DictReader(io.StringIO((dask / "gradebook.csv").read_text()))}
    assert list(rows) == ["ada", "bo", "cy"] and rows["ada"]["total"] == "25" and rows["bo"]["total"] == "0"


def test_an_unreachable_scheduler_is_the_graders_error(tmp_path):
    classroom = tmp_path / "class"
    submissions.make(classroom / "ada")
    proc = run("-m", "grader", "batch", str(classroom), "--scheduler", "tcp://127.0.0.1:9", "--insecure-scheduler",
               "--only", "relu", "--quiet", timeout=120)
    assert proc.returncode == 2 and "cannot reach the Dask scheduler" in proc.stderr, proc.stderr[-3000:]
    assert "warning" in proc.stderr and "Traceback" not in proc.stderr

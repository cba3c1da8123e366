"""Where ``grade batch`` probes its students: a local pool of threads, or a Dask cluster.

Both executors do the same thing per student — run :func:`grader.engine.sandbox.run_probes` in a confined child —
and hand back the :class:`~grader.engine.sandbox.SandboxRun`; the batch judges every run here, in one process,
so the gradebook and reports are the same whichever executor probed them.

* ``local`` (default): ``--jobs N`` threads, each waiting on its own sandboxed child.
* Dask (``--scheduler ADDRESS``, or ``--scheduler local`` for a LocalCluster of ``--jobs`` single-threaded
  worker processes on this machine): one task per submission. The task carries the submission's Python
  files (read here, so workers need no shared file system) and the probe settings; a worker lays the files
  out in a temporary folder and grades it with the same confined child. Workers must have the kit
  installed at the same version, and for Fashion-MNIST the data files at the same ``--data-dir`` path.
  Between this process and the workers Dask's own serialisation is used: both sides are trusted; the
  untrusted child still talks to its worker only through the authenticated wire format.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import secrets
import tempfile
from pathlib import Path
from typing import Iterator

from grader.data import datasets

from grader import rubric

from grader.engine import sandbox


def _with_hidden(probes, seeds: dict[str, int]) -> list[str] | None:
    """``probes`` (``None``: every public probe) and the hidden probes that ``seeds`` gives."""
    if not seeds:
        return probes
    return [*(rubric.PROBES if probes is None else probes), *seeds]


def limits_of(limits: sandbox.Limits, student: str, accepted: frozenset[str]) -> sandbox.Limits:
    """``limits`` for ``student``: with ``accept_code`` when the instructor accepted their code (--accept-code)."""
    return dataclasses.replace(limits, accept_code=True) if student in accepted else limits


def probe_local(students: dict[str, Path], probes, limits, data: datasets.DataSpec, require_isolation: bool,
                jobs: int, seeds: dict[str, dict[str, int]] | None = None,
                accepted: frozenset[str] = frozenset()) -> Iterator[tuple[str, sandbox.SandboxRun]]:
    """Probe each student (id → the folder to grade) with ``jobs`` children at a time; yield (student id, run) as
    they finish. ``seeds``: each student's (by id) hidden probes and their seeds; ``accepted``: the students whose
    code the instructor accepted beyond the policy for submitted code."""
    seeds = seeds or {}

    def probe(student: str):
        mine = seeds.get(student, {})
        return student, sandbox.run_probes(students[student], _with_hidden(probes, mine),
                                           limits_of(limits, student, accepted), data=data,
                                           require_isolation=require_isolation, seeds=mine)

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for future in concurrent.futures.as_completed([pool.submit(probe, s) for s in students]):
            yield future.result()


def probe_files(files: dict[str, bytes], probes, limits, data_json: str,
                require_isolation: bool, seeds: dict[str, int] | None = None) -> sandbox.SandboxRun:
    """A Dask task: grade one submission, given as its files, in a confined child on this worker (the
    hidden probes' seeds travel with it; the secret stays with the batch)."""
    data = datasets.DataSpec.from_json(data_json)
    with tempfile.TemporaryDirectory(prefix="grade-task-") as tmp:
        folder = Path(tmp) / "submission"
        sandbox.write_files(files, folder)
        return sandbox.run_probes(folder, _with_hidden(probes, seeds or {}), limits, data=data,
                                  require_isolation=require_isolation, seeds=seeds)


def probe_dask(students: dict[str, Path], probes, limits, data: datasets.DataSpec, require_isolation: bool,
               scheduler: str, jobs: int,
               seeds: dict[str, dict[str, int]] | None = None,
               accepted: frozenset[str] = frozenset()) -> Iterator[tuple[str, sandbox.SandboxRun]]:
    """Probe each student (id → the folder to grade) as a task of the Dask cluster at ``scheduler`` (``local``: a
    LocalCluster of ``jobs`` workers); yield (student id, run) as they finish."""
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise sandbox.SandboxError("--scheduler needs Dask: pip install 'dl-basics-grader[scale]'") from None
    cluster = None
    if scheduler == "local":
        cluster = LocalCluster(n_workers=max(1, jobs), threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=True)
    run_id = secrets.token_hex(4)
    try:
        try:
            client = Client(cluster if cluster is not None else scheduler, timeout=10)
        except (OSError, TimeoutError) as exc:
            raise sandbox.SandboxError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        with client:
            futures = {client.submit(probe_files, sandbox.submission_files(folder), probes,
                                     limits_of(limits, s, accepted), data.to_json(),
                                     require_isolation, (seeds or {}).get(s), key=f"grade-{run_id}-{i}",
                                     pure=False, retries=1): s
                       for i, (s, folder) in enumerate(students.items())}
            for future in as_completed(futures):
                yield futures[future], future.result()
    finally:
        if cluster is not None:
            cluster.close()

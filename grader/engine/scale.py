"""Where ``grade batch`` probes its students: a local pool of threads, or a Dask cluster.

Both executors do the same thing per student — probe as the student's :class:`~grader.engine.plan.GradingPlan` says,
in a confined child (:func:`grader.engine.plan.probe`) — and hand back the :class:`~grader.engine.sandbox.SandboxRun`;
the batch judges every run here, in one process, so the gradebook and reports are the same whichever executor
probed them.

* ``local`` (default): ``--jobs N`` threads, each waiting on its own sandboxed child.
* Dask (``--scheduler ADDRESS``, or ``--scheduler local`` for a LocalCluster of ``--jobs`` single-threaded
  worker processes on this machine): one task per submission. The task carries the submission's Python
  files (read here, so workers need no shared file system) and the student's plan as JSON (the hidden probes'
  seeds and the course file with it; the secret stays with the batch); a worker lays the files
  out in a temporary folder and grades it with the same confined child. Workers must have the kit
  installed at the same version, and for Fashion-MNIST the data files at the same ``--data-dir`` path.
  Between this process and the workers Dask's own serialisation is used: both sides are trusted; the
  untrusted child still talks to its worker only through the authenticated wire format.

Whoever can talk to the scheduler can run code on it and on the workers, and so change any grade: the batch
therefore only connects over mutually authenticated TLS. ``--scheduler local`` makes temporary certificates that
only this process and its workers hold (:func:`local_cluster`); a remote ``tls://`` scheduler needs the client's
certificate, key and the cluster's CA (``--tls-ca-file``, ``--tls-cert``, ``--tls-key``, or Dask's own
``distributed.comm.tls.*`` configuration); a plain ``tcp://`` scheduler only with ``--insecure-scheduler``
(:func:`client_security`).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import secrets
import sys
import tempfile
from pathlib import Path
from typing import Iterator

from grader import locate
from grader.engine import sandbox
from grader.engine.plan import GradingPlan, probe
from grader.errors import CannotRun


def probe_local(plans: dict[str, tuple[Path, GradingPlan]],
                jobs: int) -> Iterator[tuple[str, sandbox.SandboxRun]]:
    """Probe each student (id → the folder to grade and the student's plan) with ``jobs`` children at a time; yield
    (student id, run) as they finish."""

    def run(student: str):
        folder, plan = plans[student]
        return student, probe(folder, plan)

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for future in concurrent.futures.as_completed([pool.submit(run, s) for s in plans]):
            yield future.result()


def probe_files(files: dict[str, bytes], plan_json: str) -> sandbox.SandboxRun:
    """A Dask task: grade one submission, given as its files, in a confined child on this worker, as the student's
    plan says (its JSON: the hidden probes' seeds and the batch's course file with it; the secret stays with the
    batch)."""
    plan = GradingPlan.from_json(plan_json)
    plan.apply_course()
    with tempfile.TemporaryDirectory(prefix="grade-task-") as tmp:
        folder = Path(tmp) / "submission"
        locate.write_files(files, folder)
        return probe(folder, plan)


@dataclasses.dataclass(frozen=True)
class TlsFiles:
    """The batch's own TLS files for a remote scheduler (PEM): the CA that signed the cluster's certificates, and
    the client's certificate and private key (``key`` may be left out when ``cert`` holds both)."""
    ca_file: str | None = None
    cert: str | None = None
    key: str | None = None

    def given(self) -> bool:
        return any((self.ca_file, self.cert, self.key))


TLS_OPTIONS = "--tls-ca-file, --tls-cert and --tls-key"
INSECURE_OPTION = "--insecure-scheduler"


def _distributed():
    """The ``distributed`` package; :class:`~grader.engine.sandbox.SandboxError` when the 'scale' extra is missing."""
    try:
        import distributed
    except ImportError:
        raise sandbox.SandboxError("--scheduler needs Dask: pip install 'dl-basics-grader[scale]'") from None
    return distributed


def scheme_of(address: str) -> str:
    """The protocol of a scheduler's address (``tls://host:8786`` → ``tls``); Dask reads one without ``://`` as
    ``tcp``."""
    return address.split("://", 1)[0].lower() if "://" in address else "tcp"


def _checked(security, where: str):
    """``security`` once its TLS files load (a missing or unreadable file is said now, not as a failed
    connection); :class:`CannotRun` otherwise."""
    try:
        security.get_connection_args("client")
    except (OSError, ValueError) as exc:
        raise CannotRun(f"cannot use the TLS files {where}: {exc}") from None
    return security


def _configured_security():
    """A Security from Dask's configuration (``distributed.comm.tls.ca-file`` and
    ``distributed.comm.tls.client.cert``, e.g. in ``~/.config/dask/``), or ``None`` when it sets none."""
    import dask
    if not (dask.config.get("distributed.comm.tls.ca-file", None)
            and dask.config.get("distributed.comm.tls.client.cert", None)):
        return None
    return _checked(_distributed().Security(require_encryption=True), "of Dask's configuration")


def tls_security(address: str, tls: TlsFiles):
    """The Security to reach the ``tls://`` scheduler at ``address``: from ``tls`` when given, else from Dask's
    configuration; :class:`CannotRun`, saying what to pass, when neither has the CA and the client's certificate."""
    if tls.given():
        if not (tls.ca_file and tls.cert):
            raise CannotRun(f"{address} needs both --tls-ca-file and --tls-cert (and --tls-key unless the "
                            f"certificate file holds the key)")
        for option, path in (("--tls-ca-file", tls.ca_file), ("--tls-cert", tls.cert), ("--tls-key", tls.key)):
            if path is not None and not Path(path).is_file():
                raise CannotRun(f"{option} {path}: no such file")
        return _checked(_distributed().Security(tls_ca_file=tls.ca_file, tls_client_cert=tls.cert,
                                                tls_client_key=tls.key, require_encryption=True),
                        "given with --tls-*")
    configured = _configured_security()
    if configured is None:
        raise CannotRun(f"{address} needs the client's TLS files: pass {TLS_OPTIONS} (the CA that signed the "
                        f"cluster's certificates, a certificate it signed and its key), or set "
                        f"distributed.comm.tls.ca-file and distributed.comm.tls.client.cert/key in Dask's "
                        f"configuration")
    return configured


def client_security(scheduler: str | None, tls: TlsFiles = TlsFiles(), insecure: bool = False):
    """The Security with which the batch connects to ``scheduler``; ``None`` without a scheduler, for ``local``
    (:func:`local_cluster` makes its own) and for a plain scheduler accepted with ``insecure`` (said on stderr).
    :class:`CannotRun` for a plain (``tcp://``) scheduler without ``insecure``, a ``tls://`` one without
    certificates, and options that do not fit the scheduler. Reads files, never connects."""
    if scheduler is None or scheduler == "local":
        if tls.given() or insecure:
            where = "--scheduler local makes its own temporary certificates" if scheduler else "no --scheduler given"
            raise CannotRun(f"the --tls-* options and {INSECURE_OPTION} are for a remote scheduler ({where})")
        return None
    if scheme_of(scheduler) == "tls":
        return tls_security(scheduler, tls)
    if tls.given():
        raise CannotRun(f"{TLS_OPTIONS} need a tls:// scheduler address, not {scheduler}")
    if not insecure:
        raise CannotRun(f"{scheduler} is not an authenticated scheduler: whoever can reach it can run code on it and "
                        f"change the grades. Start it with TLS (README, Grading at scale) and pass "
                        f"--scheduler tls://HOST:PORT with {TLS_OPTIONS}; or accept the risk with {INSECURE_OPTION}")
    print(f"grade batch: warning: {scheduler} is not authenticated: whoever can reach it can change the grades "
          f"({INSECURE_OPTION})", file=sys.stderr)
    return None


def dask_log_level() -> int | bool:
    """How much of Dask's logging a batch shows on stderr: warnings and errors, so that its INFO lines do not bury
    the progress; ``False`` (Dask's own levels) when Dask's configuration sets up logging itself (``logging:``)."""
    import dask
    if any(dask.config.get(key, None) for key in ("logging", "distributed.logging", "logging-file-config",
                                                   "distributed.logging-file-config")):
        return False
    return logging.WARNING


def local_cluster(workers: int):
    """A LocalCluster of ``workers`` single-threaded worker processes listening on 127.0.0.1 over TLS with temporary
    certificates (in memory, made for this cluster): only holders of the returned Security (this process and the
    cluster's own workers) can talk to it. Returns (cluster, security)."""
    distributed = _distributed()
    try:
        security = distributed.Security.temporary()
    except ImportError:
        raise sandbox.SandboxError("--scheduler local needs the cryptography package: "
                                   "pip install 'dl-basics-grader[scale]'") from None
    cluster = distributed.LocalCluster(n_workers=max(1, workers), threads_per_worker=1, processes=True,
                                       host="127.0.0.1", protocol="tls://", security=security,
                                       dashboard_address=None, silence_logs=dask_log_level())
    return cluster, security


def probe_dask(plans: dict[str, tuple[Path, GradingPlan]], scheduler: str, jobs: int,
               security=None) -> Iterator[tuple[str, sandbox.SandboxRun]]:
    """Probe each student (id → the folder to grade and the student's plan) as a task of the Dask cluster at
    ``scheduler`` (``local``: a
    LocalCluster of ``jobs`` workers, see :func:`local_cluster`), reached with ``security`` (see
    :func:`client_security`); yield (student id, run) as they finish."""
    distributed = _distributed()
    cluster = None
    if scheduler == "local":
        cluster, security = local_cluster(jobs)
    run_id = secrets.token_hex(4)
    try:
        try:
            client = distributed.Client(cluster if cluster is not None else scheduler, security=security, timeout=10)
        except (OSError, TimeoutError) as exc:
            raise sandbox.SandboxError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        with client:
            futures = {client.submit(probe_files, sandbox.submission_files(folder), plan.to_json(),
                                     key=f"grade-{run_id}-{i}", pure=False, retries=1): s
                       for i, (s, (folder, plan)) in enumerate(plans.items())}
            for future in distributed.as_completed(futures):
                yield futures[future], future.result()
    finally:
        if cluster is not None:
            cluster.close()

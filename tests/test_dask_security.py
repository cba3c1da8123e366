"""`grade batch --scheduler` talks to Dask only over mutually authenticated TLS: the kit's LocalCluster admits no
client without its temporary certificates, a remote scheduler is reached with the instructor's TLS files, and a
plain tcp:// scheduler is refused unless the instructor accepts it explicitly. All traffic stays on 127.0.0.1."""

from __future__ import annotations

import socket
import ssl
import time

import pytest

from grader.engine import scale
from grader.options import CannotRun

from . import submissions
from .conftest import grades_of, run

distributed = pytest.importorskip("distributed", reason="the 'scale' extra (Dask) is not installed")

REFUSED_WITHIN = 10  # seconds: a refused client must fail fast, not hang


@pytest.fixture(scope="module")
def cluster():
    """The kit's own authenticated LocalCluster (one worker) and its Security."""
    local, security = scale.local_cluster(1)
    try:
        yield local, security
    finally:
        local.close()


@pytest.fixture(scope="module")
def tls_files(cluster, tmp_path_factory):
    """The cluster's temporary CA, certificate and key written to PEM files, as an instructor's would be."""
    _, security = cluster
    folder = tmp_path_factory.mktemp("tls")
    files = scale.TlsFiles(str(folder / "ca.pem"), str(folder / "client.pem"), str(folder / "client.key"))
    for path, text in ((files.ca_file, security.tls_ca_file), (files.cert, security.tls_client_cert),
                       (files.key, security.tls_client_key)):
        with open(path, "w") as f:
            f.write(text)
    return files


def assert_refused(address: str, **client_args) -> None:
    """A Dask client connecting to ``address`` fails, and fast."""
    start = time.monotonic()
    with pytest.raises((OSError, TimeoutError)):
        distributed.Client(address, timeout=5, **client_args).close()
    assert time.monotonic() - start < REFUSED_WITHIN


def test_the_local_cluster_listens_on_loopback_over_tls_and_admits_its_own_client(cluster):
    local, security = cluster
    assert local.scheduler_address.startswith("tls://127.0.0.1:")
    with distributed.Client(local.scheduler_address, security=security, timeout=10) as client:
        assert client.submit(sum, [1, 2], pure=False).result(timeout=30) == 3


def test_a_client_without_the_certificates_is_refused(cluster):
    local, _ = cluster
    assert_refused(local.scheduler_address.replace("tls://", "tcp://", 1))  # plain TCP to the TLS port
    assert_refused(local.scheduler_address, security=distributed.Security.temporary())  # other certificates


def test_a_tls_client_that_trusts_the_cluster_but_shows_no_certificate_is_refused(cluster):
    local, security = cluster
    host, port = local.scheduler_address.removeprefix("tls://").rsplit(":", 1)
    context = ssl.create_default_context(cadata=security.tls_ca_file)
    context.check_hostname = False
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        with pytest.raises(ssl.SSLError, match="CERTIFICATE_REQUIRED"):
            with context.wrap_socket(raw) as tls:  # TLS 1.3: the refusal comes with the first read
                tls.recv(1)  # an admitted client would read the scheduler's Dask handshake here


def test_the_instructors_tls_files_reach_a_tls_scheduler(cluster, tls_files):
    local, _ = cluster
    security = scale.client_security(local.scheduler_address, tls_files)
    assert security.require_encryption
    with distributed.Client(local.scheduler_address, security=security, timeout=10) as client:
        assert client.submit(sum, [2, 3], pure=False).result(timeout=30) == 5


def test_dasks_own_tls_configuration_is_used_when_no_files_are_given(tls_files):
    import dask
    with dask.config.set({"distributed.comm.tls.ca-file": tls_files.ca_file,
                          "distributed.comm.tls.client.cert": tls_files.cert,
                          "distributed.comm.tls.client.key": tls_files.key}):
        security = scale.client_security("tls://127.0.0.1:8786")
    assert security.tls_ca_file == tls_files.ca_file and security.require_encryption


@pytest.mark.parametrize("scheduler, options, said", [
    ("tls://127.0.0.1:8786", {}, "--tls-ca-file"),
    ("tls://127.0.0.1:8786", {"ca_file": "/nonexistent/ca.pem", "cert": "/nonexistent/c.pem"}, "no such file"),
    ("tls://127.0.0.1:8786", {"cert": "/nonexistent/c.pem"}, "--tls-ca-file"),
    ("local", {"cert": "/nonexistent/c.pem"}, "remote scheduler"),
])
def test_a_scheduler_without_usable_certificates_is_refused_saying_what_to_pass(scheduler, options, said):
    with pytest.raises(CannotRun, match=said):
        scale.client_security(scheduler, scale.TlsFiles(**options))


def test_batch_refuses_a_plain_tcp_scheduler_without_connecting(tmp_path):
    classroom = tmp_path / "class"
    submissions.make(classroom / "ada")
    with socket.create_server(("127.0.0.1", 0)) as listener:  # a would-be scheduler that records any connection
        address = f"tcp://127.0.0.1:{listener.getsockname()[1]}"
        proc = run("-m", "grader", "batch", str(classroom), "--scheduler", address, "--only", "relu", timeout=120)
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            listener.accept()
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "--insecure-scheduler" in proc.stderr and "Traceback" not in proc.stderr
    assert "observing the reference" not in proc.stderr  # refused before any grading


@pytest.mark.end_to_end
def test_batch_grades_on_a_remote_tls_scheduler_with_the_instructors_files(cluster, tls_files, tmp_path):
    local, _ = cluster
    classroom = tmp_path / "class"
    submissions.make(classroom / "ada")
    proc = run("-m", "grader", "batch", str(classroom), "--scheduler", local.scheduler_address, "--only", "relu",
               "--tls-ca-file", tls_files.ca_file, "--tls-cert", tls_files.cert, "--tls-key", tls_files.key,
               "--quiet", timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (grades_of(classroom) / "gradebook.csv").read_text().splitlines()[1].startswith("ada,")
    assert " - INFO - " not in proc.stderr

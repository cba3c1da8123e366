"""The kernel layers of the sandbox, each proven in a real process, and what the reports say about them.

Layers the machine lacks are skipped with the reason (``confine.available()`` says what it offers).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from grader.engine import confine, sandbox

from .conftest import KIT, run

LAYERS = confine.available()
needs_landlock = pytest.mark.skipif(not LAYERS.landlock_abi, reason="this kernel has no Landlock")
needs_seccomp = pytest.mark.skipif(not LAYERS.seccomp, reason="no seccomp filter for this machine")
needs_namespaces = pytest.mark.skipif(not LAYERS.namespaces, reason="unprivileged namespaces are not allowed here")


def confined(tmp_path: Path, code: str, layers: confine.Layers, protected: list[str]) -> dict:
    """Run ``code`` in a fresh interpreter confined like a sandbox child (home = tmp_path/home); it fills the
    dict ``seen`` and the test reads it back as JSON."""
    home = tmp_path / "home"
    home.mkdir()
    policy = confine.make_policy(layers, [], [str(home)], protected)
    script = textwrap.dedent(f"""
        import json, os, sys
        sys.path.insert(0, {str(KIT)!r})
        from grader.engine import confine
        confine.apply(confine.Policy.from_json({policy.to_json()!r}))
        seen = {{}}
    """) + textwrap.dedent(code) + "\nprint(json.dumps(seen))\n"
    command = confine.wrap_command([sys.executable, "-I", "-c", script], layers)
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def attempt(name: str, action: str) -> str:
    return f"""
try:
    {action}
    seen[{name!r}] = "allowed"
except OSError as exc:
    seen[{name!r}] = type(exc).__name__
"""


@needs_landlock
def test_landlock_reads_only_the_allow_list_and_writes_only_home(tmp_path):
    secret = tmp_path / "kit" / "solutions.py"
    secret.parent.mkdir()
    secret.write_text("answer = 42\n")
    seen = confined(tmp_path, attempt("read kit", f"open({str(secret)!r}).read()")
                    + attempt("write beside kit", f"open({str(secret.parent / 'x')!r}, 'w')")
                    + attempt("write tmp", "open('/tmp/dl-basics-confine-test', 'w')")
                    + attempt("write home", f"open({str(tmp_path / 'home' / 'ok')!r}, 'w').write('x')")
                    + attempt("import jax", "import jax.numpy as jnp; jnp.exp(1.0)"),
                    confine.Layers(LAYERS.landlock_abi, False, False), [str(tmp_path / "kit")])
    assert seen == {"read kit": "PermissionError", "write beside kit": "PermissionError",
                    "write tmp": "PermissionError", "write home": "allowed", "import jax": "allowed"}
    assert not os.path.exists("/tmp/dl-basics-confine-test")


@needs_landlock
def test_make_policy_never_grants_a_root_that_holds_a_protected_folder(tmp_path):
    policy = confine.make_policy(LAYERS, [str(tmp_path / "copy")], [str(tmp_path / "home")], [str(tmp_path)])
    for root in policy.read:
        resolved = Path(root).resolve()
        assert not (resolved == tmp_path or resolved in tmp_path.parents) or root == str(tmp_path / "copy")


@needs_seccomp
def test_seccomp_denies_sockets_tracing_and_signals_to_others(tmp_path):
    seen = confined(tmp_path, attempt("socket", "import socket; socket.socket()")
                    + attempt("signal parent", "os.kill(os.getppid(), 0)")
                    + attempt("signal self", "os.kill(os.getpid(), 0)")
                    + attempt("unshare", "import ctypes; libc = ctypes.CDLL(None, use_errno=True)\n"
                              "    if libc.unshare(0x10000000):\n        raise OSError(ctypes.get_errno(), 'unshare')"),
                    confine.Layers(0, False, True), [])
    assert seen == {"socket": "PermissionError", "signal parent": "PermissionError", "signal self": "allowed",
                    "unshare": "PermissionError"}


@needs_namespaces
def test_namespaces_hide_the_parent_and_the_network(tmp_path):
    seen = confined(tmp_path, "seen['pid'] = os.getpid()\nseen['procs'] = sorted(p for p in os.listdir('/proc') "
                    "if p.isdigit())\n"
                    + attempt("tcp", "import socket; socket.create_connection(('127.0.0.1', 9), 1)"),
                    confine.Layers(0, True, False), [])
    assert seen["pid"] == 1 and seen["procs"] == ["1"]  # its own init, nothing of the machine's
    assert seen["tcp"] != "allowed"


@pytest.mark.end_to_end
def test_reports_name_the_layers_in_force(tmp_path):
    proc = run("-m", "grader", "solutions", "--only", "l2_penalty", "--format", "json", "--quiet")
    report = json.loads(proc.stdout)
    limits = sandbox.Limits().budget_text()
    assert report["isolation"] == {**LAYERS.to_json(), "time_limits": limits}
    assert report["score"] == report["max_score"]
    text = run("-m", "grader", "solutions", "--only", "l2_penalty", "--quiet").stdout
    assert f"Sandbox: {LAYERS.describe()}; {limits}" in text


@pytest.mark.end_to_end
def test_require_isolation_refuses_a_machine_without_every_layer(tmp_path):
    env = dict(os.environ, DL_BASICS_CONFINE="landlock,seccomp")  # as on a machine without namespaces
    for args in (["solutions"], ["batch", str(tmp_path)]):
        proc = subprocess.run([sys.executable, "-m", "grader", *args, "--require-isolation", "--quiet"], cwd=KIT,
                              env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300)
        assert proc.returncode == 2, proc.stderr
        assert "full isolation was required" in proc.stderr and "namespaces" not in proc.stderr.split("only:")[1]
    assert not (tmp_path / "grades").exists()


@pytest.mark.end_to_end
@pytest.mark.smoke
def test_without_namespaces_escaped_processes_are_swept(tmp_path):
    """Where namespaces are not allowed (GitHub's runners by default), the parent as subreaper sweeps until no
    escaped process is left: a chain of 30 nested setsid + fork outlives nothing."""
    from . import submissions
    marker = f"dl-basics-sweep-{os.getpid()}"
    chain = textwrap.dedent(f"""
        import os, sys, time
        def _descend(depth):
            if depth == 0:
                os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(600)", {marker!r}])
            if os.fork() == 0:
                os.setsid()
                _descend(depth - 1)
            os._exit(0)
        if os.fork() == 0:
            _descend(30)
        time.sleep(1)
    """)
    path = submissions.make(tmp_path / "student", append={"weight_decay": chain})
    env = dict(os.environ, DL_BASICS_CONFINE="landlock,seccomp")
    proc = subprocess.run([sys.executable, "-m", "grader", str(path), "--only", "l2_penalty", "--format", "json",
                           "--quiet", "--accept-code"], cwd=KIT, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=300)
    report = json.loads(proc.stdout)
    assert report["score"] == report["max_score"] and not report["isolation"]["namespaces"]
    left = [p for p in os.listdir("/proc") if p.isdigit() and _cmdline_has(p, marker)]
    assert left == []


def _cmdline_has(pid: str, marker: str) -> bool:
    try:
        return marker in Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return False


def test_a_child_that_leaves_its_process_group_is_still_ended(tmp_path):
    """The sandboxed child itself calls setsid (out of the group the parent kills) and then hangs: ending
    it still ends everything (the namespace's init is killed directly; without namespaces, the sweep)."""
    from . import submissions
    marker = f"dl-basics-setsid-{os.getpid()}"
    body = f"import os\nos.setsid()\nos.execv('/bin/sh', ['sh', '-c', 'sleep 600', {marker!r}])"
    path = submissions.make(tmp_path / "student", bodies={"l2_penalty": body})
    proc = run("-m", "grader", str(path), "--only", "l2_penalty", "--time-limit", "5", "--format", "json", "--quiet",
               "--accept-code")
    report = json.loads(proc.stdout)
    assert "did not finish within 5 s" in report["checks"][0]["message"]
    assert [p for p in os.listdir("/proc") if p.isdigit() and _cmdline_has(p, marker)] == []

"""The run-time tripwire, in a fresh interpreter (it wraps library routines and adds an audit hook for good)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from .conftest import KIT

pytestmark = pytest.mark.end_to_end  # every test here runs the kit's commands in real subprocesses

STUDENT = '''
import jax, importlib

def relu(X):
    return getattr(jax.nn, "re" + "lu")(X)          # hidden from a static scan

def softmax(X):
    return importlib.import_module("jax.nn").softmax(X)

def l2_penalty(w):
    return (w ** 2).sum() / 2                         # honest

def peek():
    open("/proc/self/status").read()
'''


def test_tripwire_sees_forbidden_calls_of_student_functions_only(tmp_path):
    student = tmp_path / "student"
    student.mkdir()
    (student / "mlp.py").write_text(STUDENT)
    code = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(KIT)!r})
        from grader import rubric
        from grader.engine import tripwire, trusted
        import jax, jax.numpy as jnp
        rec = tripwire.install({str(student)!r}, rubric.FORBIDDEN_SHORTCUTS, trusted.FUNCTIONS)
        sys.path.insert(0, {str(student)!r})
        import mlp
        x = jnp.array([[-1.0, 2.0]])
        mlp.relu(x); mlp.softmax(x); mlp.l2_penalty(x); mlp.peek()
        jax.nn.relu(x); jax.jit(lambda v: jax.nn.softmax(v))(x)   # trusted code: not counted
        trusted.FUNCTIONS["relu"](x)
        print(json.dumps({{"hits": rec.hits, "notes": rec.notes}}))
    """)
    proc = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["hits"] == {"relu": ["jax.nn.relu"], "softmax": ["jax.nn.softmax"]}
    assert any(n.startswith("mlp.py:") and "/proc or /sys" in n for n in seen["notes"]), seen["notes"]

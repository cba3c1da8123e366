"""The grading parent's memory bound, measured with the real ``grade`` CLI.

A submission may return observations within the wire's limits (:mod:`grader.engine.wire`) but far larger than the
answers: every function below returns arrays as large as one frame carries, of the wrong shapes, and the
sgd of the linear-regression training leaves a huge extra parameter. The parent must judge them honestly
(those checks lose their points with a message naming the shape, every other check keeps its points) and
without widening them: its peak RSS stays under the honest grading's peak plus what the wire lets a submission
make it hold: the budget of decoded observations (:data:`grader.engine.wire.DEFAULT_BUDGET`, 256 MiB) and the
frames in flight. The module docstring of :mod:`grader.engine.wire` allows two per child read (the buffer and the
payload cut from it), 128 MiB for two children; this submission sends 176 MiB of the budget, so the test holds
it to the tighter honest peak + 256 + 2 × 32 MiB.
Measured on a 2-core machine: honest 300-356 MiB, this submission (176 MiB of observations) 530 MiB; before the
judges admitted observations by shape it reached honest + 350-420 MiB.

Both runs grade every probe on digits with a warm cache (the trusted caches of ``tests/caches.py``), through
the attack suite's wrapper (``tests/attacks/harness.py``), which reports the grade process's own peak RSS.
"""

from __future__ import annotations

import shutil
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from grader import grading, rubric
from grader.checks.common import SMALL_ENTRIES, Observations, admit
from grader.engine import wire

from . import caches
from .attacks import harness
from .attacks.harness import RunDirs

MIB_KIB = 1024
# Entries per huge row, so that each probe's observations come close to one frame (wire.MAX_FRAME, 32 MiB).
SOFTMAX_COLUMNS = 196_608      # 41 rows of float32 over softmax's seven calls that return: 30.75 MiB
CROSS_ENTROPY_COLUMNS = 196_608  # 36 rows over five calls: 27 MiB
RELU_COLUMNS = 262_144         # 28 float32 and 4 float16 rows: 29 MiB
L2_ENTRIES = 2_621_440         # three calls: 30 MiB
SGD_COLUMNS = 180_000          # the 42 entries of the probe's five trees, each a row: 29 MiB
JUNK_ENTRIES = 1_966_080       # the training's final parameters and three epochs: 30 MiB

HOSTILE = {
    "softmax_regression": f'''

def softmax(X):
    """The right rows, and {SOFTMAX_COLUMNS} columns of them."""
    return jnp.zeros(X.shape[:-1] + ({SOFTMAX_COLUMNS},), jnp.float32)


def cross_entropy(logits, y):
    """One row of {CROSS_ENTROPY_COLUMNS} losses per example."""
    return jnp.zeros((logits.shape[0], {CROSS_ENTROPY_COLUMNS}), jnp.float32)
''',
    "mlp": f'''

def relu(X):
    """Honest on the MLP's batches; on the relu probe's 3-D and float16 inputs, {RELU_COLUMNS} columns."""
    if X.ndim == 3 or X.dtype == jnp.float16:
        return jnp.zeros(X.shape[:-1] + ({RELU_COLUMNS},), X.dtype)
    return jnp.maximum(X, 0)
''',
    "weight_decay": f'''

def l2_penalty(w):
    """{L2_ENTRIES} penalties instead of one."""
    return jnp.zeros(({L2_ENTRIES},), jnp.float32)
''',
    "linear_regression": f'''

def sgd(params, grads, lr, batch_size):
    """On the sgd probe (whose trees hold a (3, 2) leaf) every leaf gets {SGD_COLUMNS} columns; in the trainings,
    the right step, with an extra parameter of {JUNK_ENTRIES} entries that the loss never reads."""
    if any(jnp.shape(leaf) == (3, 2) for leaf in jax.tree.leaves(params)):
        return jax.tree.map(lambda p: jnp.zeros(jnp.shape(p) + ({SGD_COLUMNS},), jnp.float32), params)
    out = jax.tree.map(lambda p, g: p - lr * g / batch_size, params, grads)
    if isinstance(out, dict):
        out = {{**out, "junk": jnp.zeros(({JUNK_ENTRIES},), jnp.float32)}}
    return out
''',
}

# The checks the huge outputs must cost, and a phrase their messages must hold.
SHAPE_CHECKS = {
    "softmax.values": "shape (8, 196608)",
    "softmax.last_axis": "shape (2, 3, 196608)",
    "softmax.stability.large_logits": "shape (4, 196608)",
    "softmax.stability.neg_inf": "shape (3, 196608)",
    "softmax.stability.row_scales": "shape (4, 196608)",
    "softmax.shift_invariance": "shape (8, 196608)",
    "softmax.jit": "shape (8, 196608)",
    "cross_entropy.values": "shape (8, 196608)",
    "cross_entropy.stability.large_logits": "shape (4, 196608)",
    "cross_entropy.shift_invariance": "shape (8, 196608)",
    "cross_entropy.jit": "shape (8, 196608)",
    "relu.values": "shape (3, 4, 262144)",
    "relu.jit": "shape (3, 4, 262144)",
    "l2_penalty.values": "shape (2621440,)",
    "l2_penalty.jit": "shape (2621440,)",
    "sgd.update": "shape (2, 180000)",  # the dict's first leaf, b
    "sgd.any_pytree": "shape (3, 2, 180000)",
    "sgd.jit": "shape (2, 180000)",
}
# The checks that keep their points: the honest parts (data_iter, relu's gradient, the trainings whose parts are
# right, sgd leaving its arguments alone; the linear regression's w and b are right, its extra parameter unjudged).
KEPT = {"data_iter.generator", "data_iter.each_example_once", "data_iter.pairs_kept", "data_iter.batch_sizes",
        "data_iter.key_order", "data_iter.shuffles_examples", "relu.grad", "sgd.no_mutation", "train.mlp",
        "train.linear_regression"}
BUDGET_KIB = (wire.DEFAULT_BUDGET + 2 * wire.MAX_FRAME) // 1024  # what the parent may hold beyond an honest run


def _mib(kib: int | None) -> str:
    return "unknown" if kib is None else f"{kib / MIB_KIB:.0f} MiB"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(honest run, hostile run): `grade` of the solutions and of the hostile submission, every probe."""
    root, made = harness.scratch_root("memory", Path(tmp_path_factory.mktemp("memory")))
    token = harness.new_token()
    try:
        warm = RunDirs(root / "warm").create()
        caches.seed(warm.cache)
        kit = harness.copy_kit(root / "kit")
        out = []
        for name in ("honest", "hostile"):
            source = kit / "solutions"
            folder = harness.build_submission(root / name / "student", source,
                                              append=HOSTILE if name == "hostile" else None)
            started = time.monotonic()
            run = harness.run_grade(kit, RunDirs(root / name).create(warm_cache=warm.cache),
                                    [str(folder), "--format", "json", "--quiet", "--accept-code"],
                                    timeout=600, markers=[token])
            assert run.status == 0 and not run.timed_out, f"{name}: grade did not finish: {run.brief()}"
            harness.assert_imported_copy(run, kit)
            print(f"\n{name}: {time.monotonic() - started:.1f} s; parent peak RSS {_mib(run.self_maxrss_kib)}, "
                  f"sandboxed children peak {_mib(run.children_maxrss_kib)}")
            out.append(run)
        yield tuple(out)
    finally:
        harness.end_processes([token, str(root)])
        if made:
            shutil.rmtree(root, ignore_errors=True)


@pytest.mark.end_to_end
def test_honest_submission_gets_full_marks(runs):
    honest, _ = runs
    report = honest.json()
    assert [c["id"] for c in report["checks"] if not c["passed"]] == []


@pytest.mark.end_to_end
def test_huge_outputs_lose_their_checks_with_a_shape_message(runs):
    _, hostile = runs
    checks = {c["id"]: c for c in hostile.json()["checks"]}
    wrong = {i: checks[i]["message"][:200] for i, phrase in SHAPE_CHECKS.items()
             if checks[i]["passed"] or phrase not in checks[i]["message"]}
    assert wrong == {}
    lost = {i: checks[i]["message"][:200] for i in KEPT if not checks[i]["passed"]}
    assert lost == {}


@pytest.mark.end_to_end
def test_parent_peak_stays_under_the_honest_peak_plus_the_budget(runs):
    """The parent holds at most DEFAULT_BUDGET of decoded observations per submission, one frame in flight per
    child read, and judges them without widening beyond the reference's size: its peak is the honest one plus
    at most those."""
    honest, hostile = runs
    bound = honest.self_maxrss_kib + BUDGET_KIB
    print(f"\nparent peak RSS: honest {_mib(honest.self_maxrss_kib)}, hostile {_mib(hostile.self_maxrss_kib)}, "
          f"bound {_mib(bound)} (honest + budget + two frames, {_mib(BUDGET_KIB)})")
    assert hostile.self_maxrss_kib <= bound


# --- the rule itself, in process (fast) ---------------------------------------------------------------------

def _mlp(W1_shape=(64, 256)) -> Observations:
    """Observations of the MLP training, the parameters zero, W1 of ``W1_shape``."""
    return Observations({"W1": np.zeros(W1_shape, np.float32), "b1": np.zeros(256, np.float32),
                         "W2": np.zeros((256, 10), np.float32), "b2": np.zeros(10, np.float32),
                         "train_loss": np.ones(10), "empty_batches": np.array(0)})


def test_a_huge_trained_parameter_is_refused_before_any_arithmetic():
    """The MLP's W1 at 64 x 120,000 float32 (29 MiB, one frame's worth): train.mlp fails naming the shape, and
    judging it allocates next to nothing (widened and multiplied by the test images, it took 500 MiB)."""
    student, reference = {"mlp": _mlp((64, 120_000))}, {"mlp": _mlp()}
    tracemalloc.start()
    try:
        result = grading.judge(student, reference, [rubric.BY_ID["train.mlp"]])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    (check,) = result.checks
    assert not check.passed and check.points == 0
    assert check.message.startswith("the mlp training returned shape (64, 120000) for 'W1', expected (64, 256)")
    assert peak < 8 * 1024 * 1024


def test_admission_rule():
    reference = Observations({"values": np.zeros((8, 5), np.float32), "structure": np.array("PyTreeDef(*)"),
                              "mask": np.zeros(3, bool)})
    small_wrong = np.zeros((8, 8), np.float32)  # a known mistake's (n, n) broadcast: its judge names it
    student = Observations({"values": small_wrong, "structure": np.array("x" * (SMALL_ENTRIES + 1)),
                            "mask": np.array(["a", "b", "c"]), "extra": np.zeros(10)}, {"other": "raised"})
    admitted = admit(student, reference, "softmax")
    assert admitted.values == {"values": small_wrong}
    assert admitted.errors == {
        "other": "raised",
        "structure": f"softmax returned {SMALL_ENTRIES + 1:,} characters of text for 'structure', where the answer "
                     "has 12 (text that long is not judged)",
        "mask": "softmax returned dtype <U1 for 'mask', expected a boolean array"}
    huge = Observations({"values": np.zeros((8, SMALL_ENTRIES), np.float32)})
    assert admit(huge, reference, "softmax").errors["values"] == (
        f"softmax returned shape (8, {SMALL_ENTRIES}) for 'values', expected (8, 5): {8 * SMALL_ENTRIES:,} entries "
        "where the answer has 40 (an output that large is not judged)")
    same = Observations({"values": np.zeros((8, 5), np.float64)})  # the reference's shape: always admitted
    assert set(admit(same, reference, "softmax").values) == {"values"}
    assert admit(admitted, reference, "softmax").errors == admitted.errors  # admitting again changes nothing

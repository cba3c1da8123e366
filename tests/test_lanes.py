"""One submission's probes split between two confined children side by side: the same observations as one child.

A lone ``grade`` on an idle machine uses both cores (:func:`grader.engine.sandbox.idle_lanes`); a child that dies costs
the probe it was on in its own lane, and the lane's next child takes the rest.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from grader import rubric
from grader.engine import sandbox

from . import submissions

# relu kills its child outright; sgd is wrong. Each lane must restart on its own and keep the other's results.
BODIES = {
    "relu": "import os\nos._exit(3)",
    "sgd": "return jax.tree.map(lambda p, g: p - lr * g, params, grads)",
}


def test_split_keeps_every_probe_once_in_rubric_order_and_balances_the_cost():
    probes = list(rubric.PROBES)
    groups = sandbox.split_probes(probes, 2)
    assert sorted(p for g in groups for p in g) == sorted(probes)
    assert all(g == [p for p in probes if p in g] for g in groups)
    costs = [sum(rubric.PROBES[p].seconds for p in g) for g in groups]
    assert abs(costs[0] - costs[1]) <= max(p.seconds for p in rubric.PROBES.values())
    assert sandbox.split_probes(["relu"], 2) == [["relu"]]
    assert sandbox.split_probes(probes, 1) == [probes]


def _same(a, b) -> bool:
    return (a.errors == b.errors and a.values.keys() == b.values.keys()
            and all(np.array_equal(a.values[k], b.values[k], equal_nan=a.values[k].dtype.kind == "f")
                    for k in a.values))


PROBES = ["sgd", "relu", "l2_penalty", "linear_regression", "mlp"]


@pytest.mark.end_to_end
def test_two_lanes_observe_what_one_child_does(tmp_path):
    folder = submissions.make(tmp_path / "student", bodies=BODIES)
    accepted = sandbox.Limits(accept_code=True)  # the bodies kill their child: they must run to do so
    one = sandbox.run_probes(folder, PROBES, limits=dataclasses.replace(accepted, lanes=1))
    two = sandbox.run_probes(folder, PROBES, limits=dataclasses.replace(accepted, lanes=2))
    assert sandbox.split_probes(PROBES, 2) == [["relu", "mlp"], ["sgd", "l2_penalty", "linear_regression"]]
    assert list(two.observations) == list(one.observations) == PROBES
    differ = [p for p in PROBES if not _same(one.observations[p], two.observations[p])]
    assert differ == []
    assert "exited with status 3" in one.observations["relu"].errors["*"]
    assert one.observations["mlp"].errors and not one.observations["sgd"].errors
    assert two.shortcuts == one.shortcuts


@pytest.mark.parametrize("cores, running, most, expected", [
    (2, 1, 2, 2),   # an idle 2-core machine: only this process runs, both cores are free
    (2, 2, 2, 1),   # another runnable task takes a core
    (2, 9, 2, 1),   # a busy machine still gets one lane
    (1, 1, 2, 1),   # one core
    (8, 3, 2, 2),   # never more than ``most``
    (8, 3, 4, 4),
    (8, 6, 4, 3),
])
def test_idle_lanes_counts_the_free_cores(monkeypatch, cores, running, most, expected):
    """idle_lanes reads the kernel's count of runnable tasks (the fourth field of /proc/loadavg, this process
    included): one lane per core the others leave free, at least one, at most ``most``."""
    from grader.engine import lanes

    class LoadAvg:
        def __init__(self, path):
            assert str(path) == "/proc/loadavg"

        def read_text(self):
            return f"0.50 0.40 0.30 {running}/321 4242\n"

    monkeypatch.setattr(lanes, "Path", LoadAvg)
    monkeypatch.setattr(lanes.os, "cpu_count", lambda: cores)
    assert lanes.idle_lanes(most=most) == expected

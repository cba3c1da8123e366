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

pytestmark = pytest.mark.end_to_end  # every test here runs the kit's commands in real subprocesses

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


def test_idle_lanes_is_one_or_two():
    assert sandbox.idle_lanes() in (1, 2)
    assert sandbox.idle_lanes(most=1) == 1

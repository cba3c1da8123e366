"""Forbidden library shortcuts are found in the source, through aliases and helpers, and cost the function."""

from __future__ import annotations

import pytest

from grader import grading, rubric, shortcuts


@pytest.mark.parametrize("source,function,expected", [
    ("import jax\ndef softmax(X):\n    return jax.nn.softmax(X)\n", "softmax", ["jax.nn.softmax"]),
    ("from jax import nn\ndef softmax(X):\n    return nn.softmax(X, axis=-1)\n", "softmax", ["jax.nn.softmax"]),
    ("from jax.nn import relu as r\ndef relu(X):\n    return r(X)\n", "relu", ["jax.nn.relu"]),
    ("import optax as ox\ndef _h(p, g, lr):\n    return ox.sgd(lr)\ndef sgd(p, g, lr, b):\n    return _h(p, g, lr)\n",
     "sgd", ["optax.sgd"]),
    ("import optax\ndef l2_penalty(w):\n    return optax.losses.l2_loss(w).sum()\n", "l2_penalty", ["optax.losses.l2_loss"]),
    ("import jax.nn\ndef cross_entropy(o, y):\n    return -jax.nn.log_softmax(o)[y]\n", "cross_entropy",
     ["jax.nn.log_softmax"]),
    # allowed: logsumexp, the student's own softmax, a forbidden call in another function
    ("import jax\ndef cross_entropy(o, y):\n    return jax.nn.logsumexp(o, -1) - o[y]\n", "cross_entropy", []),
    ("import jax\ndef relu(X):\n    return X * (X > 0)\ndef other(X):\n    return jax.nn.relu(X)\n", "relu", []),
    ("def softmax(X:\n", "softmax", []),  # a syntax error is the loader's business
])
def test_find(source, function, expected):
    assert shortcuts.find(source, function, rubric.FORBIDDEN_SHORTCUTS[function]) == expected


def test_shortcut_costs_exactly_the_functions_own_checks(kit, reference_obs):
    sources = {m: (kit / "solutions" / f"{m}.py").read_text() for m in set(rubric.STUDENT_FUNCTIONS.values())}
    assert shortcuts.scan_sources(sources) == {}
    sources["mlp"] = sources["mlp"].replace("return jnp.maximum(X, 0)", "return jax.nn.relu(X)")
    found = shortcuts.scan_sources(sources)
    assert set(found) == {"relu"} and "relu calls jax.nn.relu" in found["relu"]
    result = grading.judge(reference_obs, reference_obs, shortcuts=found)
    assert {c.id for c in result.checks if not c.passed} == {c.id for c in rubric.CHECKS if c.target == "relu"}
    assert result.score == 100 - 7

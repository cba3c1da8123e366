"""Checks of ``data_iter(batch_size, features, labels, key)``, the minibatch generator.

A pass over n examples with batch size b yields ⌈n / b⌉ batches: ⌊n / b⌋ of b rows and, when b does not
divide n, a last batch of n mod b rows. Together they hold every example exactly once, in the order of a
random permutation drawn from ``key``, with each feature row still beside its own label.

The probe's features encode each example's index (row i is [i, 1000 + i]) and its labels are i, so every
property can be read off the batches that come out.
"""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import numpy as np

from grader.checks import inputs
from grader.checks.common import Observations, Verdict, failed, passed

# (name, n, batch_size, key seed, array kind): several passes, including exact division and b > n.
PASSES = (
    ("main", 103, 10, 0, "jax"),
    ("again", 103, 10, 0, "jax"),
    ("other_key", 103, 10, 1, "jax"),
    ("numpy", 103, 10, 2, "numpy"),
    ("exact", 100, 25, 3, "jax"),
    ("single", 7, 1, 4, "jax"),
    ("oversized", 12, 32, 5, "jax"),
)


def passes(seed: int | None = None) -> tuple[tuple[str, int, int, int, str], ...]:
    """The public PASSES, or with ``seed`` a hidden variant's: the same kinds of pass (the same names), with other
    numbers of examples, batch sizes (one that does not divide n, one that does, 1, and one above n) and keys."""
    if seed is None:
        return PASSES
    h = inputs.Hidden(seed)
    n, b = h.size(40, 160), h.size(3, 17)
    n += (n % b == 0)  # a last partial batch
    key, other = h.key(), h.key()
    exact_b = h.size(4, 20)
    small = h.size(3, 9)
    return (("main", n, b, key, "jax"), ("again", n, b, key, "jax"), ("other_key", n, b, other, "jax"),
            ("numpy", h.size(40, 160), h.size(3, 17), h.key(), "numpy"),
            ("exact", exact_b * h.size(4, 8), exact_b, h.key(), "jax"), ("single", small, 1, h.key(), "jax"),
            ("oversized", small, small + h.size(1, 30), h.key(), "jax"))


def dataset(n: int, kind: str):
    idx = np.arange(n)
    features = np.stack([idx, 1000 + idx], axis=1).astype(np.float32)
    labels = idx.astype(np.int32)
    if kind == "jax":
        return jnp.asarray(features), jnp.asarray(labels)
    return features, labels


def expected_sizes(n: int, b: int) -> list[int]:
    return [b] * (n // b) + ([n % b] if n % b else [])


def _one_pass(data_iter, n: int, b: int, seed: int, kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run one pass; return a (k, 4) table (batch number, feature index, feature column 2, label) of the rows
    that came out, the number of rows of each batch, empty batches included, and whether the arrays it was
    given still hold what they held (NumPy arrays can be written in place; jax arrays cannot)."""
    features, labels = dataset(n, kind)
    given = [np.array(a) for a in (features, labels)]
    rows, sizes = [], []
    limit = n + 2  # a pass never needs more than n batches; stop an endless generator
    for number, batch in enumerate(data_iter(b, features, labels, jax.random.PRNGKey(seed))):
        if number >= limit:
            raise RuntimeError(f"it yielded more than {limit} batches for {n} examples (an endless loop?)")
        X, y = batch
        X, y = np.asarray(X), np.asarray(y)
        if X.ndim != 2 or X.shape[1] != 2:
            raise ValueError(f"a batch of features has shape {X.shape}, expected (rows, 2)")
        y = y.reshape(-1)
        if len(y) != len(X):
            raise ValueError(f"a batch has {len(X)} feature rows but {len(y)} labels")
        sizes.append(len(X))
        for row in range(len(X)):
            rows.append((number, X[row, 0], X[row, 1], y[row]))
    table = np.rint(np.array(rows, np.float64)).astype(np.int64) if rows else np.zeros((0, 4), np.int64)
    kept = all(np.array_equal(np.asarray(a), g) for a, g in zip((features, labels), given))
    return table, np.array(sizes, np.int64), np.array(kept)


def probe(fns, seed: int | None = None) -> Observations:
    """The public probe, or with ``seed`` the hidden variant's."""
    data_iter = fns["data_iter"]
    obs = Observations()
    obs.values["is_generator_function"] = np.array(inspect.isgeneratorfunction(data_iter))
    obs.record("returns", "calling data_iter",
               lambda: np.array(type(data_iter(10, *dataset(103, "jax"), jax.random.PRNGKey(0))).__name__),
               numeric=False)
    for name, n, b, key, kind in passes(seed):
        arrays = "NumPy arrays" if kind == "numpy" else "jax arrays"
        obs.record_many((f"pass.{name}", f"sizes.{name}", f"kept.{name}"),
                        f"a pass of data_iter over {n} examples ({arrays}) with batch_size {b}",
                        lambda: _one_pass(data_iter, n, b, key, kind))
    return obs


def _pass(s: Observations, name: str) -> np.ndarray:
    return s[f"pass.{name}"]


def judge_generator(s: Observations, r: Observations, check) -> Verdict:
    if bool(s["is_generator_function"]):
        return passed()
    returned = str(s["returns"])
    if returned in ("list", "tuple"):
        return failed(f"data_iter returns a {returned}: build the batches lazily with `yield` so only one batch "
                      "is in memory at a time")
    return failed(f"data_iter is not a generator function (calling it returns a {returned}): "
                  "use `yield X[idx], y[idx]` inside the loop")


def judge_each_example_once(s: Observations, r: Observations, check) -> Verdict:
    for name, n, b, _, kind in passes(check.seed):
        table = _pass(s, name)
        seen = table[:, 1] if len(table) else np.zeros(0, np.int64)
        counts = np.bincount(seen[(seen >= 0) & (seen < n)], minlength=n)
        where = f"a pass over {n} examples with batch_size {b}" + (" (NumPy arrays)" if kind == "numpy" else "")
        if np.any(counts > 1):
            dup = int(np.argmax(counts > 1))
            return failed(f"in {where}, example {dup} came {counts[dup]} times: draw one permutation and slice it, "
                          "rather than sampling indices with replacement")
        missing = int(np.sum(counts == 0))
        if missing:
            if missing == n % b:
                return failed(f"in {where}, {missing} examples never came: the last partial batch of "
                              f"{n % b} is dropped; keep it (slice up to min(i + batch_size, n))")
            return failed(f"in {where}, {missing} of {n} examples never came: every example must appear once a pass")
    return passed()


def judge_pairs_kept(s: Observations, r: Observations, check) -> Verdict:
    """Each yielded feature row is its own label's (row i is [i, 1000 + i], label i), and the arrays given are
    left as they were: the caller's data are read, never reordered in place."""
    for name, n, b, _, kind in passes(check.seed):
        table = _pass(s, name)
        if len(table) and not (np.array_equal(table[:, 1], table[:, 3])
                               and np.array_equal(table[:, 2], 1000 + table[:, 1])):
            return failed(f"in a pass over {n} examples, feature rows and labels no longer match: index features "
                          "and labels with the same indices, and whole rows of features")
        if f"kept.{name}" in s and not bool(s[f"kept.{name}"]):
            return failed(f"after a pass over {n} examples ({'NumPy' if kind == 'numpy' else 'jax'} arrays), the "
                          "features and labels it was given had changed: it shuffled them in place; index them "
                          "with a permutation instead (features[idx]), so the caller's data stay as they were")
    return passed()


def judge_batch_sizes(s: Observations, r: Observations, check) -> Verdict:
    for name, n, b, _, _ in passes(check.seed):
        sizes = s[f"sizes.{name}"].tolist()
        want = expected_sizes(n, b)
        if sizes == want:
            continue
        head = (f"a pass over {n} examples with batch_size {b} gave batches of {_sizes_text(sizes)}, "
                f"expected {_sizes_text(want)}")
        if sizes == want[:-1] and n % b:
            return failed(f"{head}: the last partial batch is dropped; keep it")
        if sizes[:len(want)] == want and all(x == 0 for x in sizes[len(want):]) or sizes == want + [0]:
            return failed(f"{head}: an empty batch is yielded at the end; stop when the examples run out")
        return failed(f"{head}: take batch_size rows at a time, the last batch holding what is left")
    return passed()


def _sizes_text(sizes: list[int]) -> str:
    if not sizes:
        return "nothing"
    if len(sizes) > 4:
        return f"{sizes[0]}, {sizes[1]}, …, {sizes[-2]}, {sizes[-1]} ({len(sizes)} batches)"
    return ", ".join(map(str, sizes))


def judge_key_order(s: Observations, r: Observations, check) -> Verdict:
    main, again, other = (_pass(s, k)[:, 1] for k in ("main", "again", "other_key"))
    if np.array_equal(main, np.arange(len(main))):
        return failed("data_iter yields the examples in their original order: shuffle them with "
                      "jax.random.permutation(key, n)")
    if not np.array_equal(main, again):
        return failed("two passes with the same key gave different orders: draw the permutation from `key` "
                      "(jax.random.permutation(key, n)), not from NumPy's or Python's global random state")
    if np.array_equal(main, other):
        return failed("two different keys gave the same order: the permutation must come from `key`")
    return passed()


def judge_shuffles_examples(s: Observations, r: Observations, check) -> Verdict:
    table = _pass(s, "exact")
    if not len(table):
        n = next(n for name, n, *_ in passes(check.seed) if name == "exact")
        return failed(f"a pass over {n} examples yielded nothing")
    blocks = 0
    batches = np.unique(table[:, 0])
    for number in batches:
        idx = np.sort(table[table[:, 0] == number, 1])
        if len(idx) > 1 and np.array_equal(idx, np.arange(idx[0], idx[0] + len(idx))):
            blocks += 1
    if blocks * 2 > len(batches):
        return failed(f"{blocks} of {len(batches)} batches hold consecutive examples: shuffle the examples, not just "
                      "the order of fixed batches")
    return passed()

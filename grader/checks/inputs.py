"""Seeded probe inputs, shared by probes (which feed them to student code) and judges (which diagnose)."""

from __future__ import annotations

import numpy as np


def normal(seed: int, shape: tuple[int, ...], scale: float = 1.0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


def labels(seed: int, n: int, num_classes: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, num_classes, size=n).astype(np.int32)


# Logits of magnitude 1e4: exp overflows to inf above ~88.7 and underflows to 0 below ~-103 in float32.
LARGE_LOGITS = np.array(
    [[1e4, 0.0, -1e4, 5.0],
     [1e4, 1e4 - 1.0, 0.0, -1e4],
     [-1e4, -1e4, -1e4 + 2.0, -1e4],
     [3.0, -1e4, 1e4, 1e4]], dtype=np.float32)
LARGE_LABELS = np.array([2, 1, 0, 3], dtype=np.int32)

# Rows mixing -inf (masked entries) with finite ones; every row keeps at least one finite entry.
MASKED_LOGITS = np.array(
    [[0.0, -np.inf, 1.0, 2.0],
     [-np.inf, 5.0, -np.inf, -np.inf],
     [2.0, 2.0, -np.inf, -1.0]], dtype=np.float32)


def scaled_rows() -> np.ndarray:
    """Rows of very different scales (1e-3 … 1e3): a max taken over the whole array ruins the small rows."""
    base = normal(11, (4, 6))
    scales = np.array([[1e-3], [1.0], [1e2], [1e3]], dtype=np.float32)
    return (base * scales).astype(np.float32)


ROW_SHIFTS = np.array([[60.0], [-60.0], [0.0], [25.0], [-25.0], [7.0], [-7.0], [1.0]], dtype=np.float32)


class Hidden:
    """Inputs of a hidden probe, all drawn from one seed (``secret.seeds``): other shapes, values, sizes and keys
    than the public probes', of the same kinds. The same seed draws the same inputs, in the same order."""

    def __init__(self, seed: int):
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def size(self, low: int, high: int) -> int:
        """An integer in [low, high]."""
        return int(self.rng.integers(low, high + 1))

    def uniform(self, low: float, high: float) -> float:
        return float(self.rng.uniform(low, high))

    def key(self) -> int:
        """A seed for ``jax.random.PRNGKey``."""
        return int(self.rng.integers(0, 2**31 - 1))

    def normal(self, shape: tuple[int, ...], scale: float = 1.0) -> np.ndarray:
        return (self.rng.standard_normal(shape) * scale).astype(np.float32)

    def labels(self, n: int, num_classes: int) -> np.ndarray:
        return self.rng.integers(0, num_classes, size=n).astype(np.int32)

    def matrix(self, rows: tuple[int, int] = (3, 12), cols: tuple[int, int] = (3, 9), scale: float = 1.0) -> np.ndarray:
        return self.normal((self.size(*rows), self.size(*cols)), scale)

    def large_logits(self, rows: int, cols: int) -> np.ndarray:
        """Logits whose entries are ±1e4 or small (as :data:`LARGE_LOGITS`): exp overflows or underflows."""
        big = self.rng.choice(np.array([1e4, -1e4, 1e4 - 1.0, -1e4 + 2.0, 0.0, 3.0], np.float32), size=(rows, cols))
        big[np.arange(rows), self.rng.integers(0, cols, size=rows)] = 1e4  # each row's max overflows exp
        return big.astype(np.float32)

    def masked_logits(self, rows: int, cols: int) -> np.ndarray:
        """Rows mixing -inf with finite entries, each row keeping at least one finite entry
        (as :data:`MASKED_LOGITS`)."""
        x = self.normal((rows, cols), 2.0)
        mask = self.rng.random((rows, cols)) < 0.4
        mask[np.arange(rows), self.rng.integers(0, cols, size=rows)] = False
        mask[0, :] = False
        mask[0, self.rng.integers(0, cols)] = True  # at least one -inf
        x[mask] = -np.inf
        return x

    def scaled_rows(self, cols: int) -> np.ndarray:
        """Rows of very different scales, as :func:`scaled_rows`."""
        scales = np.array([[1e-3], [1.0], [1e2], [1e3]], dtype=np.float32)[self.rng.permutation(4)]
        return (self.normal((4, cols)) * scales).astype(np.float32)

    def row_shifts(self, rows: int) -> np.ndarray:
        """A constant per row, as :data:`ROW_SHIFTS`."""
        return np.round(self.rng.uniform(-60.0, 60.0, size=(rows, 1))).astype(np.float32)

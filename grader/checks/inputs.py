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

"""Datasets the chapter trains on.

The embedded default is scikit-learn's *digits* set: 1,797 grey images of 8x8 pixels, ten classes. It
ships inside scikit-learn, so it works offline. Pixels are scaled to [0, 1] (divided by 16) and the images
flattened to 64 features; 25% of the images, stratified by class with a fixed seed, form the test split
(1,347 train / 450 test).
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np

DIGITS_SPLIT_SEED = 0
DIGITS_TEST_FRACTION = 0.25


class Split(NamedTuple):
    """A train/test split of a classification set (features float32, labels int32)."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    num_classes: int


@lru_cache(maxsize=1)
def _digits() -> Split:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    y = y.astype(np.int32)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=DIGITS_TEST_FRACTION, stratify=y, random_state=DIGITS_SPLIT_SEED
    )
    return Split(X_train, y_train, X_test, y_test, 10)


def load_digits() -> Split:
    """The digits split; read-only copies so no caller can alter the cached arrays."""
    split = _digits()
    arrays = []
    for a in split[:4]:
        a = a.copy()
        a.flags.writeable = False
        arrays.append(a)
    return Split(*arrays, split.num_classes)


DATASETS = {"digits": load_digits}


def load(name: str = "digits") -> Split:
    """Load a dataset by name (``digits`` is the embedded default)."""
    try:
        loader = DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}") from None
    return loader()

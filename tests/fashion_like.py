"""A learnable Fashion-MNIST look-alike written as the four official IDX files (the real set cannot be fetched
here). Each class has a fixed random 28x28 template of soft blobs; an image is its class's template scaled by a
random brightness, plus pixel noise, in 0..255. Linear models separate the classes well but not perfectly."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from grader.data.idx import write_idx

FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
         "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def _templates(rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:28, 0:28]
    out = np.zeros((10, 28, 28))
    for c in range(10):
        for _ in range(3):
            cy, cx, r = rng.uniform(4, 24), rng.uniform(4, 24), rng.uniform(3, 7)
            out[c] += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
    return out / out.max(axis=(1, 2), keepdims=True)


def write(directory: Path, n_train: int = 600, n_test: int = 200, seed: int = 0, noise: float = 90.0
          ) -> dict[str, str]:
    """Write the four files into ``directory``; return their SHA-256 digests (the ``checksums`` override)."""
    rng = np.random.default_rng(seed)
    templates = _templates(rng)
    directory.mkdir(parents=True, exist_ok=True)
    digests = {}
    for split, n in (("train", n_train), ("test", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        brightness = rng.uniform(120, 255, (n, 1, 1))
        images = templates[labels] * brightness + rng.normal(0, noise, (n, 28, 28))
        images = np.clip(images, 0, 255).astype(np.uint8)
        for name, array in zip(FILES[split], (images, labels)):
            path = write_idx(directory / name, array)
            digests[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests

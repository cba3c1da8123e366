"""Datasets the chapter trains on.

The embedded default is scikit-learn's *digits* set: 1,797 grey images of 8x8 pixels, ten classes. It
ships inside scikit-learn, so it works offline. Pixels are scaled to [0, 1] (divided by 16) and the images
flattened to 64 features; 25% of the images, stratified by class with a fixed seed, form the test split
(1,347 train / 450 test).

The book's own set, *Fashion-MNIST* (60,000 train / 10,000 test grey images of 28x28 pixels, ten classes), is
read from the four official IDX files. They come from ``data_dir`` when given, else from a cache directory
(``$DL_BASICS_DATA_DIR`` when set, else ``fashion-mnist`` in the kit's cache folder, :mod:`grader.engine.cache_dir`:
``$XDG_CACHE_HOME/dl-basics-grader/fashion-mnist`` or ``~/.cache/dl-basics-grader/fashion-mnist`` on Linux);
files missing from the cache are downloaded from the project's public location. Every file's SHA-256 is
checked before use; when a file is missing or bad, :class:`DatasetUnavailable` says which, what its checksum
must be and where to put it. Pixels are scaled to [0, 1] (divided by 255) and the images flattened to 784
features.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import json
import os
import tempfile
import urllib.error
import urllib.request
from functools import lru_cache
from pathlib import Path
from typing import Mapping, NamedTuple

import numpy as np

from grader import data as data_names
from grader.data import idx
from grader.engine import cache_dir
from grader.errors import DatasetUnavailable

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


def load_digits(data_dir: str | os.PathLike | None = None) -> Split:
    """The digits split; read-only copies so no caller can alter the cached arrays.

    ``data_dir`` is ignored: the set ships inside scikit-learn.
    """
    split = _digits()
    arrays = []
    for a in split[:4]:
        a = a.copy()
        a.flags.writeable = False
        arrays.append(a)
    return Split(*arrays, split.num_classes)


class DatasetFile(NamedTuple):
    """An official file of a downloadable dataset."""

    size: int  # bytes
    sha256: str


FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FASHION_MNIST_FILES: dict[str, DatasetFile] = {
    "train-images-idx3-ubyte.gz": DatasetFile(
        26421880, "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
    "train-labels-idx1-ubyte.gz": DatasetFile(
        29515, "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
    "t10k-images-idx3-ubyte.gz": DatasetFile(
        4422102, "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
    "t10k-labels-idx1-ubyte.gz": DatasetFile(
        5148, "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
}
FASHION_MNIST_CLASSES = 10
FASHION_MNIST_IMAGE_SHAPE = (28, 28)
DATA_DIR_ENV = data_names.DATA_DIR_ENV
DOWNLOAD_TIMEOUT = 10.0  # seconds, per connection attempt and per read


class _DownloadFailed(Exception):
    def __init__(self, reason: str, offline: bool = False):
        super().__init__(reason)
        self.offline = offline


def fashion_mnist_cache_dir() -> Path:
    """Where Fashion-MNIST is cached: ``$DL_BASICS_DATA_DIR``, else the user's cache directory."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return cache_dir.root() / "fashion-mnist"


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _expected_files(checksums: Mapping[str, str] | None) -> dict[str, tuple[str, int | None]]:
    """File name -> (SHA-256, size or None); an overridden checksum drops the official size."""
    expected: dict[str, tuple[str, int | None]] = {
        name: (f.sha256, f.size) for name, f in FASHION_MNIST_FILES.items()}
    for name, digest in (checksums or {}).items():
        if name not in expected:
            raise ValueError(f"checksums: unknown file {name!r}; the files are {list(FASHION_MNIST_FILES)}")
        digest = str(digest).lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"checksums: {name}: {digest!r} is not a SHA-256 hex digest")
        official = FASHION_MNIST_FILES[name]
        expected[name] = (digest, official.size if digest == official.sha256 else None)
    return expected


def _check_file(path: Path, sha256: str, size: int | None) -> str | None:
    """None when ``path`` has the expected digest, else the problem."""
    try:
        actual = sha256_file(path)
        length = path.stat().st_size
    except OSError as e:
        return f"cannot be read ({e.strerror or e})"
    if actual == sha256:
        return None
    sizes = f"{length} bytes" + (f", expected {size}" if size is not None and size != length else "")
    return f"checksum mismatch: expected SHA-256 {sha256}, actual SHA-256 {actual} ({sizes})"


def _download(url: str, dest: Path, sha256: str, size: int | None, timeout: float) -> None:
    """Fetch ``url`` into ``dest`` atomically, keeping it only when its digest is ``sha256``."""
    tmp: Path | None = None
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(url, timeout=timeout) as response, tempfile.NamedTemporaryFile(
                dir=dest.parent, prefix=f".{dest.name}.", suffix=".part", delete=False) as out:
            tmp = Path(out.name)
            digest, total = hashlib.sha256(), 0
            while chunk := response.read(1 << 16):
                total += len(chunk)
                if size is not None and total > size:
                    raise _DownloadFailed(f"the server sent more than the expected {size} bytes")
                digest.update(chunk)
                out.write(chunk)
        actual = digest.hexdigest()
        if actual != sha256:
            raise _DownloadFailed(f"the downloaded file ({total} bytes) has SHA-256 {actual}, "
                                  f"expected SHA-256 {sha256}")
        os.replace(tmp, dest)
        tmp = None
    except urllib.error.HTTPError as e:
        raise _DownloadFailed(f"HTTP {e.code} {e.reason}") from e
    except (urllib.error.URLError, TimeoutError, ConnectionError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        raise _DownloadFailed(f"cannot reach the server ({reason})", offline=True) from e
    except (OSError, http.client.HTTPException) as e:
        raise _DownloadFailed(f"{type(e).__name__}: {e}") from e
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def _unavailable(problems: dict[str, str], expected: dict[str, tuple[str, int | None]], directory: Path,
                 explicit: bool, base_url: str) -> DatasetUnavailable:
    lines = [f"Fashion-MNIST is unavailable: {len(problems)} of its {len(expected)} files "
             f"{'is' if len(problems) == 1 else 'are'} missing or bad in {directory}"]
    for name, problem in problems.items():
        lines.append(f"  {name}: {problem}")
        lines.append(f"    expected SHA-256 {expected[name][0]}")
    where = "pass --data-dir DIR (or call with data_dir=DIR) naming another directory that holds them"
    if not explicit:
        where += f", or set {DATA_DIR_ENV}=DIR"
    lines.append(f"Download the official files from {base_url} on a connected machine, check their SHA-256, "
                 f"and place them in {directory}; or {where}.")
    return DatasetUnavailable("\n".join(lines), problems, directory)


def fashion_mnist_files(data_dir: str | os.PathLike | None = None, *, checksums: Mapping[str, str] | None = None,
                        base_url: str = FASHION_MNIST_URL, timeout: float = DOWNLOAD_TIMEOUT) -> dict[str, Path]:
    """Paths of the four Fashion-MNIST files, each checked against its SHA-256.

    With ``data_dir`` the files must be there (nothing is downloaded); without it they come from
    :func:`fashion_mnist_cache_dir`, downloading the missing ones from ``base_url``. ``checksums`` maps file
    names to SHA-256 digests replacing the official ones (for test files). Raises :class:`DatasetUnavailable`
    naming every missing or bad file.
    """
    expected = _expected_files(checksums)
    explicit = data_dir is not None
    directory = Path(data_dir).expanduser() if explicit else fashion_mnist_cache_dir()
    problems: dict[str, str] = {}
    offline: str | None = None
    for name, (sha256, size) in expected.items():
        path = directory / name
        if path.exists() and not path.is_file():
            problems[name] = "is not a regular file"
        elif path.exists():
            if (problem := _check_file(path, sha256, size)) is not None:
                problems[name] = problem
        elif explicit:
            problems[name] = "missing"
        elif offline is not None:
            problems[name] = f"missing; not downloaded ({offline})"
        else:
            url = base_url.rstrip("/") + "/" + name
            try:
                _download(url, path, sha256, size, timeout)
            except _DownloadFailed as e:
                problems[name] = f"missing; download from {url} failed: {e}"
                if e.offline:
                    offline = str(e)
    if problems:
        raise _unavailable(problems, expected, directory, explicit, base_url)
    return {name: directory / name for name in expected}


def _images_and_labels(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    images = idx.read_images(images_path)
    labels = idx.read_labels(labels_path)
    if images.shape[1:] != FASHION_MNIST_IMAGE_SHAPE:
        rows, cols = FASHION_MNIST_IMAGE_SHAPE
        raise idx.IdxError(images_path, f"images are {images.shape[1]}x{images.shape[2]} pixels, "
                                        f"expected {rows}x{cols}")
    if len(images) != len(labels):
        raise idx.IdxError(images_path, f"{len(images)} images but {labels_path} holds {len(labels)} labels")
    if len(labels) and labels.max() >= FASHION_MNIST_CLASSES:
        raise idx.IdxError(labels_path, f"label {labels.max()} outside 0..{FASHION_MNIST_CLASSES - 1}")
    X = (images.reshape(len(images), -1) / np.float32(255.0)).astype(np.float32)
    return X, labels.astype(np.int32)


def load_fashion_mnist(data_dir: str | os.PathLike | None = None, *, checksums: Mapping[str, str] | None = None,
                       base_url: str = FASHION_MNIST_URL, timeout: float = DOWNLOAD_TIMEOUT) -> Split:
    """Fashion-MNIST's official split (60,000 train / 10,000 test), pixels in [0, 1], 784 features.

    Files come from :func:`fashion_mnist_files` (same arguments). Raises :class:`DatasetUnavailable` when
    files are missing or bad, :class:`grader.data.idx.IdxError` when a checked file is not valid IDX data.
    """
    paths = fashion_mnist_files(data_dir, checksums=checksums, base_url=base_url, timeout=timeout)
    X_train, y_train = _images_and_labels(paths["train-images-idx3-ubyte.gz"], paths["train-labels-idx1-ubyte.gz"])
    X_test, y_test = _images_and_labels(paths["t10k-images-idx3-ubyte.gz"], paths["t10k-labels-idx1-ubyte.gz"])
    return Split(X_train, y_train, X_test, y_test, FASHION_MNIST_CLASSES)


DATASETS = {"digits": load_digits, "fashion-mnist": load_fashion_mnist}
assert tuple(DATASETS) == data_names.NAMES


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """Which classification set the training checks use, as plain data that can cross to the sandboxed child.

    ``name`` is a key of :data:`DATASETS`; ``data_dir`` is where a file-based set's files are (``None``: the
    cache, downloading what is missing); ``checksums`` replaces official SHA-256 digests (generated test files).
    """

    name: str = "digits"
    data_dir: str | None = None
    checksums: tuple[tuple[str, str], ...] = ()

    def __post_init__(self):
        if self.name not in DATASETS:
            raise ValueError(f"unknown dataset {self.name!r}; choose one of {sorted(DATASETS)}")

    def load(self) -> Split:
        """The split, read once per process (arrays read-only)."""
        return _load_spec(self)

    def resolve(self) -> "DataSpec":
        """Make sure the files are there (download when allowed, verify checksums) and name their directory.

        Raises :class:`DatasetUnavailable` with the message to show. ``digits`` needs nothing.
        """
        if self.name == "digits":
            return self
        paths = fashion_mnist_files(self.data_dir, checksums=dict(self.checksums) or None)
        return dataclasses.replace(self, data_dir=str(next(iter(paths.values())).parent.resolve()))

    def identity(self) -> str:
        """What determines the data's content: the name and the checksums the files were verified against."""
        return self.name + "".join(f";{k}={v}" for k, v in sorted(self.checksums))

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "DataSpec":
        raw = json.loads(text)
        return cls(str(raw["name"]), None if raw.get("data_dir") is None else str(raw["data_dir"]),
                   tuple((str(k), str(v)) for k, v in raw.get("checksums", ())))


DIGITS = DataSpec()


DIGITS_FILE = "digits.npz"  # the digits split as trusted code saved it, read without importing scikit-learn


def save_digits(folder: str | os.PathLike) -> Path:
    """Write the digits split into ``folder`` (uncompressed ``.npz``, written whole). Only trusted code calls
    this (``grade warm``, into the compilation cache's folder, which children may read and never write)."""
    split, path = _digits(), Path(folder) / DIGITS_FILE
    tmp = path.with_name(f".{DIGITS_FILE}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, X_train=split.X_train, y_train=split.y_train, X_test=split.X_test, y_test=split.y_test)
    os.replace(tmp, path)
    return path


def _saved_digits(folder: str | os.PathLike | None) -> Split | None:
    """The split :func:`save_digits` wrote into ``folder``, if it is there and has the split's dtypes and shapes
    (1,347 / 450 images of 64 pixels); else None."""
    if folder is None:
        return None
    try:
        with np.load(Path(folder) / DIGITS_FILE, allow_pickle=False) as z:
            arrays = [np.array(z[k]) for k in ("X_train", "y_train", "X_test", "y_test")]
    except (OSError, KeyError, ValueError):
        return None
    X_train, y_train, X_test, y_test = arrays
    if not (X_train.dtype == X_test.dtype == np.float32 and y_train.dtype == y_test.dtype == np.int32
            and X_train.shape[1:] == X_test.shape[1:] == (64,) and len(X_train) == len(y_train)
            and len(X_test) == len(y_test) and y_train.ndim == y_test.ndim == 1):
        return None
    for a in arrays:
        a.flags.writeable = False
    return Split(*arrays, 10)


@lru_cache(maxsize=2)
def _load_spec(spec: DataSpec) -> Split:
    if spec.name == "digits":
        # the child is handed the folder (``data_dir``); this process finds it as the filled compilation cache
        from grader.engine import compile_cache
        folder = spec.data_dir if spec.data_dir is not None else compile_cache.ready_directory("digits")
        return _saved_digits(folder) or load_digits()
    split = load_fashion_mnist(spec.data_dir, checksums=dict(spec.checksums) or None)
    for a in split[:4]:
        a.flags.writeable = False
    return split


def load(name: str = "digits", data_dir: str | os.PathLike | None = None) -> Split:
    """Load a dataset by name (``digits`` is the embedded default).

    ``data_dir`` is passed to loaders that read files (``fashion-mnist``); ``digits`` ignores it.
    """
    try:
        loader = DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}") from None
    return loader() if data_dir is None else loader(data_dir=data_dir)

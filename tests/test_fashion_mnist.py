"""The Fashion-MNIST loader and the IDX reader, on small IDX files generated here (nothing is downloaded)."""

from __future__ import annotations

import gzip
import hashlib
import io
import struct
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from grader.data import datasets
from grader.data.datasets import DatasetUnavailable, Split, load_fashion_mnist
from grader.data.idx import IdxError, read_idx, read_images, read_labels, write_idx

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"
FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)
UNREACHABLE = "http://127.0.0.1:9/"  # the discard port on this machine: nothing listens, the connection is refused


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_set(directory: Path, n_train: int = 20, n_test: int = 10, seed: int = 0) -> dict[str, np.ndarray]:
    """Write a small Fashion-MNIST look-alike (28x28 uint8 images, labels 0..9) into ``directory``."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {
        TRAIN_IMAGES: rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        TRAIN_LABELS: rng.integers(0, 10, n_train, dtype=np.uint8),
        TEST_IMAGES: rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        TEST_LABELS: rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    arrays[TRAIN_IMAGES][0, 0, 0], arrays[TRAIN_IMAGES][0, 0, 1] = 0, 255  # both ends of the pixel range
    for name, array in arrays.items():
        write_idx(directory / name, array)
    return arrays


def checksums(directory: Path) -> dict[str, str]:
    return {name: sha256(directory / name) for name in FILES}


@pytest.fixture
def good(tmp_path) -> tuple[Path, dict[str, np.ndarray]]:
    directory = tmp_path / "fmnist"
    return directory, make_set(directory)


@pytest.fixture
def no_network(monkeypatch):
    """Fail the test if anything tries to download."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"unexpected download: {args} {kwargs}")
    monkeypatch.setattr(urllib.request, "urlopen", refuse)


@pytest.fixture
def cache_env(tmp_path, monkeypatch) -> Path:
    """An empty user cache (``$XDG_CACHE_HOME``), no ``DL_BASICS_DATA_DIR``; returns the Fashion-MNIST cache."""
    monkeypatch.delenv(datasets.DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    return tmp_path / "xdg-cache" / "dl-basics-grader" / "fashion-mnist"


# --- the IDX reader ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("gz", [True, False])
def test_idx_round_trip(tmp_path, gz):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    labels = np.array([7, 0, 255], dtype=np.uint8)
    write_idx(tmp_path / "i", images, gz=gz)
    write_idx(tmp_path / "l", labels, gz=gz)
    assert ((tmp_path / "i").read_bytes()[:2] == b"\x1f\x8b") == gz
    np.testing.assert_array_equal(read_images(tmp_path / "i"), images)
    np.testing.assert_array_equal(read_labels(tmp_path / "l"), labels)
    raw = (tmp_path / "i").read_bytes()
    header = (gzip.decompress(raw) if gz else raw)[:16]
    assert header == bytes.fromhex("00000803" "00000002" "00000003" "00000004")


def test_idx_other_types_are_big_endian(tmp_path):
    a = np.array([[1.5, -2.0], [3.25, 1e6]], dtype=np.float32)
    write_idx(tmp_path / "f", a, gz=False)
    raw = (tmp_path / "f").read_bytes()
    assert raw[:4] == bytes.fromhex("00000D02") and raw[12:16] == struct.pack(">f", 1.5)
    back = read_idx(tmp_path / "f")
    assert back.dtype == np.float32 and back.dtype.isnative
    np.testing.assert_array_equal(back, a)


@pytest.mark.parametrize("gz", [True, False])
def test_idx_truncated_data(tmp_path, gz):
    path = tmp_path / "imgs"
    write_idx(path, np.zeros((5, 28, 28), np.uint8), gz=False)
    raw = path.read_bytes()[:-100]
    path.write_bytes(gzip.compress(raw) if gz else raw)
    with pytest.raises(IdxError, match="truncated data") as e:
        read_images(path)
    assert str(path) in str(e.value) and "5x28x28" in str(e.value)


def test_idx_truncated_header_and_gzip_stream(tmp_path):
    path = tmp_path / "short"
    path.write_bytes(bytes.fromhex("00000803" "00000005" "0000"))
    with pytest.raises(IdxError, match="truncated header") as e:
        read_images(path)
    assert str(path) in str(e.value)
    write_idx(path, np.zeros((5, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:30])
    with pytest.raises(IdxError, match="gzip") as e:
        read_images(path)
    assert str(path) in str(e.value)


def test_idx_trailing_bytes(tmp_path):
    path = tmp_path / "labels"
    write_idx(path, np.zeros(4, np.uint8), gz=False)
    path.write_bytes(path.read_bytes() + b"\0\0")
    with pytest.raises(IdxError, match="2 unexpected bytes") as e:
        read_labels(path)
    assert str(path) in str(e.value)


def test_idx_wrong_magic(tmp_path):
    labels = tmp_path / "labels"
    write_idx(labels, np.zeros(4, np.uint8))
    with pytest.raises(IdxError, match="wrong magic number 0x00000801, expected 0x00000803") as e:
        read_images(labels)
    assert str(labels) in str(e.value)
    junk = tmp_path / "junk"
    junk.write_bytes(b"PK\x03\x04" + bytes(20))
    with pytest.raises(IdxError, match="not an IDX file") as e:
        read_idx(junk)
    assert str(junk) in str(e.value)


def test_idx_error_is_a_value_error():
    assert issubclass(IdxError, ValueError)
    assert issubclass(DatasetUnavailable, RuntimeError)


def test_idx_missing_file(tmp_path):
    with pytest.raises(IdxError, match="cannot read") as e:
        read_labels(tmp_path / "absent")
    assert "absent" in str(e.value)


# --- loading a good set -----------------------------------------------------------------------------------

def test_good_set_loads(good, no_network):
    directory, arrays = good
    split = load_fashion_mnist(directory, checksums=checksums(directory))
    assert isinstance(split, Split) and split.num_classes == 10
    assert split.X_train.shape == (20, 784) and split.X_test.shape == (10, 784)
    assert split.y_train.shape == (20,) and split.y_test.shape == (10,)
    assert split.X_train.dtype == np.float32 and split.X_test.dtype == np.float32
    assert split.y_train.dtype == np.int32 and split.y_test.dtype == np.int32
    assert split.X_train.min() == 0.0 and split.X_train.max() == 1.0
    assert 0.0 <= split.X_test.min() and split.X_test.max() <= 1.0
    np.testing.assert_allclose(split.X_train, arrays[TRAIN_IMAGES].reshape(20, -1) / 255.0, rtol=1e-6)
    np.testing.assert_allclose(split.X_test[3].reshape(28, 28), arrays[TEST_IMAGES][3] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(split.y_train, arrays[TRAIN_LABELS])
    np.testing.assert_array_equal(split.y_test, arrays[TEST_LABELS])


def test_uncompressed_content_under_official_names(tmp_path, no_network):
    make_set(tmp_path)
    for name in FILES:  # rewrite without gzip: the reader goes by content, not by the ".gz" name
        write_idx(tmp_path / name, read_idx(tmp_path / name), gz=False)
    split = load_fashion_mnist(tmp_path, checksums=checksums(tmp_path))
    assert split.X_train.shape == (20, 784)


def test_default_checksums_are_the_official_ones(good, no_network):
    """Without ``checksums`` generated files fail the official digests (from the reference figures)."""
    directory, _ = good
    official = {
        TRAIN_IMAGES: (26421880, "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
        TRAIN_LABELS: (29515, "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
        TEST_IMAGES: (4422102, "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
        TEST_LABELS: (5148, "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
    }
    assert {name: tuple(f) for name, f in datasets.FASHION_MNIST_FILES.items()} == official
    with pytest.raises(DatasetUnavailable) as e:
        load_fashion_mnist(directory)
    assert set(e.value.problems) == set(FILES)
    for name, (_, digest) in official.items():
        assert digest in str(e.value) and sha256(directory / name) in str(e.value)


def test_load_by_name_forwards_data_dir(good, no_network, monkeypatch):
    directory, _ = good
    sums = checksums(directory)
    real = datasets.load_fashion_mnist
    monkeypatch.setitem(datasets.DATASETS, "fashion-mnist",
                        lambda data_dir=None: real(data_dir, checksums=sums))
    split = datasets.load("fashion-mnist", data_dir=directory)
    assert split.X_train.shape == (20, 784) and split.num_classes == 10
    digits = datasets.load("digits", data_dir=directory)  # digits ignores data_dir
    assert digits.X_train.shape == (1347, 64)
    assert datasets.load().X_train.shape == (1347, 64) and datasets.load_digits().num_classes == 10
    with pytest.raises(ValueError, match="unknown dataset"):
        datasets.load("mnist")


def test_registered_loader_is_the_real_one():
    assert datasets.DATASETS["fashion-mnist"] is datasets.load_fashion_mnist


def test_unknown_or_malformed_checksum_override(good):
    directory, _ = good
    with pytest.raises(ValueError, match="unknown file"):
        load_fashion_mnist(directory, checksums={"train-images.gz": "0" * 64})
    with pytest.raises(ValueError, match="not a SHA-256"):
        load_fashion_mnist(directory, checksums={TRAIN_IMAGES: "abc"})


# --- broken files -----------------------------------------------------------------------------------------

def test_truncated_file(good, no_network):
    directory, _ = good
    path = directory / TEST_IMAGES
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:-28]))  # one row of the last image short
    with pytest.raises(IdxError, match="truncated") as e:
        load_fashion_mnist(directory, checksums=checksums(directory))
    assert str(path) in str(e.value)


def test_truncated_gzip_stream(good, no_network):
    directory, _ = good
    path = directory / TRAIN_IMAGES
    path.write_bytes(path.read_bytes()[:-500])
    with pytest.raises(IdxError, match="gzip") as e:
        load_fashion_mnist(directory, checksums=checksums(directory))
    assert str(path) in str(e.value)


def test_wrong_magic_number(good, no_network):
    directory, arrays = good
    path = directory / TRAIN_LABELS
    write_idx(path, arrays[TRAIN_IMAGES][:20])  # an image file where the labels belong
    with pytest.raises(IdxError, match="wrong magic number 0x00000803, expected 0x00000801") as e:
        load_fashion_mnist(directory, checksums=checksums(directory))
    assert str(path) in str(e.value)


def test_mismatched_image_and_label_counts(good, no_network):
    directory, arrays = good
    write_idx(directory / TRAIN_LABELS, arrays[TRAIN_LABELS][:19])
    with pytest.raises(IdxError, match="20 images but .* holds 19 labels") as e:
        load_fashion_mnist(directory, checksums=checksums(directory))
    assert str(directory / TRAIN_IMAGES) in str(e.value) and str(directory / TRAIN_LABELS) in str(e.value)


def test_wrong_image_size_and_label_range(good, no_network):
    directory, arrays = good
    write_idx(directory / TEST_IMAGES, np.zeros((10, 8, 8), np.uint8))
    with pytest.raises(IdxError, match="8x8 pixels, expected 28x28") as e:
        load_fashion_mnist(directory, checksums=checksums(directory))
    assert str(directory / TEST_IMAGES) in str(e.value)
    make_set(directory)
    write_idx(directory / TEST_LABELS, np.full(10, 10, np.uint8))
    with pytest.raises(IdxError, match="label 10 outside 0..9") as e:
        load_fashion_mnist(directory, checksums=checksums(directory))
    assert str(directory / TEST_LABELS) in str(e.value)


def test_wrong_checksum(good, no_network):
    directory, _ = good
    sums = checksums(directory)
    expected = "0123456789abcdef" * 4
    sums[TRAIN_LABELS] = expected
    with pytest.raises(DatasetUnavailable) as e:
        load_fashion_mnist(directory, checksums=sums)
    message = str(e.value)
    assert list(e.value.problems) == [TRAIN_LABELS]
    assert TRAIN_LABELS in message and expected in message and sha256(directory / TRAIN_LABELS) in message
    assert "checksum mismatch" in message and str(directory) in message and "--data-dir" in message
    for name in (TRAIN_IMAGES, TEST_IMAGES, TEST_LABELS):
        assert f"{name}:" not in message


def test_bad_file_in_cache_is_reported_not_replaced(good, cache_env, no_network):
    directory, _ = good
    cache_env.mkdir(parents=True)
    for name in FILES:
        (cache_env / name).write_bytes((directory / name).read_bytes())
    sums = checksums(directory)
    (cache_env / TEST_LABELS).write_bytes(b"not the labels")
    with pytest.raises(DatasetUnavailable) as e:
        load_fashion_mnist(checksums=sums)
    assert list(e.value.problems) == [TEST_LABELS]
    assert sums[TEST_LABELS] in str(e.value) and sha256(cache_env / TEST_LABELS) in str(e.value)
    assert (cache_env / TEST_LABELS).read_bytes() == b"not the labels"


# --- missing files and downloads --------------------------------------------------------------------------

def test_missing_files_in_data_dir_are_not_downloaded(good, no_network):
    directory, _ = good
    (directory / TRAIN_IMAGES).unlink()
    (directory / TEST_LABELS).unlink()
    with pytest.raises(DatasetUnavailable) as e:
        load_fashion_mnist(directory)
    message = str(e.value)
    assert e.value.directory == directory
    assert {TRAIN_IMAGES, TEST_LABELS} <= set(e.value.problems)
    assert f"{TRAIN_IMAGES}: missing" in message and f"{TEST_LABELS}: missing" in message
    assert datasets.FASHION_MNIST_FILES[TRAIN_IMAGES].sha256 in message
    assert datasets.FASHION_MNIST_FILES[TEST_LABELS].sha256 in message
    assert str(directory) in message and "--data-dir" in message


def test_missing_files_offline_unroutable_url(cache_env):
    """A refused connection (port 9 of the local machine) makes every missing file a problem, quickly."""
    with pytest.raises(DatasetUnavailable) as e:
        load_fashion_mnist(base_url=UNREACHABLE, timeout=2)
    message = str(e.value)
    assert e.value.directory == cache_env and set(e.value.problems) == set(FILES)
    for name, official in datasets.FASHION_MNIST_FILES.items():
        assert f"{name}: missing" in message and official.sha256 in message
    assert UNREACHABLE + TRAIN_IMAGES in message and "cannot reach the server" in message
    assert str(cache_env) in message and "--data-dir" in message and datasets.DATA_DIR_ENV in message
    assert not any(cache_env.iterdir())  # no partial downloads left behind


def test_only_the_missing_files_are_fetched_offline(good, cache_env, monkeypatch):
    directory, _ = good
    sums = checksums(directory)
    cache_env.mkdir(parents=True)
    for name in (TRAIN_IMAGES, TEST_IMAGES):
        (cache_env / name).write_bytes((directory / name).read_bytes())
    asked = []

    def offline(url, timeout=None):
        asked.append((url, timeout))
        raise urllib.error.URLError("network is unreachable")
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DatasetUnavailable) as e:
        load_fashion_mnist(checksums=sums, timeout=3)
    assert set(e.value.problems) == {TRAIN_LABELS, TEST_LABELS}
    assert asked == [(datasets.FASHION_MNIST_URL + TRAIN_LABELS, 3)]  # no retry per file once offline
    assert datasets.FASHION_MNIST_URL.startswith("http") and "fashion-mnist" in datasets.FASHION_MNIST_URL
    for name in (TRAIN_LABELS, TEST_LABELS):
        assert sums[name] in str(e.value)


class FakeResponse(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def serve(monkeypatch, directory: Path, tamper: str | None = None) -> list[str]:
    """Make downloads return the files of ``directory`` (``tamper`` one of them); returns the URLs asked."""
    asked = []

    def urlopen(url, timeout=None):
        asked.append(url)
        name = url.rsplit("/", 1)[1]
        data = (directory / name).read_bytes()
        return FakeResponse(data + b"x" if name == tamper else data)
    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return asked


def test_download_fills_the_cache(good, cache_env, monkeypatch):
    directory, arrays = good
    sums = checksums(directory)
    asked = serve(monkeypatch, directory)
    split = load_fashion_mnist(checksums=sums, base_url="http://mirror.invalid/fmnist/")
    assert asked == [f"http://mirror.invalid/fmnist/{name}" for name in FILES]
    assert sorted(p.name for p in cache_env.iterdir()) == sorted(FILES)
    np.testing.assert_array_equal(split.y_train, arrays[TRAIN_LABELS])
    asked.clear()
    assert load_fashion_mnist(checksums=sums).X_test.shape == (10, 784)  # second time: from the cache
    assert asked == []


def test_download_with_wrong_checksum_is_rejected(good, cache_env, monkeypatch):
    directory, _ = good
    sums = checksums(directory)
    serve(monkeypatch, directory, tamper=TEST_IMAGES)
    with pytest.raises(DatasetUnavailable) as e:
        load_fashion_mnist(checksums=sums)
    assert list(e.value.problems) == [TEST_IMAGES]
    tampered = hashlib.sha256((directory / TEST_IMAGES).read_bytes() + b"x").hexdigest()
    assert sums[TEST_IMAGES] in str(e.value) and tampered in str(e.value)
    assert sorted(p.name for p in cache_env.iterdir()) == sorted(set(FILES) - {TEST_IMAGES})


def test_download_larger_than_the_official_size_is_cut_off(tmp_path, cache_env, monkeypatch):
    big = tmp_path / "served"
    big.mkdir()
    (big / TEST_LABELS).write_bytes(bytes(datasets.FASHION_MNIST_FILES[TEST_LABELS].size + 1))
    serve(monkeypatch, big)
    with pytest.raises(DatasetUnavailable) as e:
        datasets.fashion_mnist_files()
    assert "more than the expected 5148 bytes" in e.value.problems[TEST_LABELS]
    assert not (cache_env / TEST_LABELS).exists()


# --- where the files are looked for -----------------------------------------------------------------------

def test_cache_directory_resolution(tmp_path, monkeypatch):
    monkeypatch.delenv(datasets.DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert datasets.fashion_mnist_cache_dir() == tmp_path / "xdg" / "dl-basics-grader" / "fashion-mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert datasets.fashion_mnist_cache_dir() == tmp_path / "home" / ".cache" / "dl-basics-grader" / "fashion-mnist"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # not absolute: ignored, as the XDG spec says
    assert datasets.fashion_mnist_cache_dir() == tmp_path / "home" / ".cache" / "dl-basics-grader" / "fashion-mnist"
    monkeypatch.setenv(datasets.DATA_DIR_ENV, str(tmp_path / "mine"))
    assert datasets.fashion_mnist_cache_dir() == tmp_path / "mine"


def test_env_var_overrides_the_cache(good, cache_env, monkeypatch, no_network):
    directory, arrays = good
    monkeypatch.setenv(datasets.DATA_DIR_ENV, str(directory))
    split = load_fashion_mnist(checksums=checksums(directory))
    np.testing.assert_array_equal(split.y_test, arrays[TEST_LABELS])
    assert not cache_env.exists()


def test_data_dir_wins_over_env_var_and_cache(good, tmp_path, cache_env, monkeypatch, no_network):
    directory, arrays = good
    other = tmp_path / "other"
    make_set(other, seed=1)
    monkeypatch.setenv(datasets.DATA_DIR_ENV, str(other))
    split = load_fashion_mnist(str(directory), checksums=checksums(directory))  # str or Path
    np.testing.assert_array_equal(split.y_train, arrays[TRAIN_LABELS])
    with pytest.raises(DatasetUnavailable) as e:  # the env var's files have other digests: not used
        load_fashion_mnist(checksums=checksums(directory))
    assert e.value.directory == other and set(e.value.problems) == set(FILES)

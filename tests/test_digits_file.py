"""The digits split saved by trusted code (``grade warm``), so neither the grader nor a child imports
scikit-learn to read it: the same arrays, refused when they are not the split's."""

from __future__ import annotations

import numpy as np

from grader.data import datasets


def test_the_saved_split_is_the_split(tmp_path):
    path = datasets.save_digits(tmp_path)
    saved, split = datasets._saved_digits(tmp_path), datasets._digits()
    assert path.name == datasets.DIGITS_FILE and saved is not None and saved.num_classes == 10
    for a, b in zip(saved[:4], split[:4]):
        assert a.dtype == b.dtype and np.array_equal(a, b) and not a.flags.writeable
    assert datasets._load_spec(datasets.DataSpec("digits", str(tmp_path))).X_test.shape == split.X_test.shape


def test_a_file_that_is_not_the_split_is_ignored(tmp_path):
    assert datasets._saved_digits(tmp_path) is None  # missing
    (tmp_path / datasets.DIGITS_FILE).write_bytes(b"not an npz")
    assert datasets._saved_digits(tmp_path) is None
    split = datasets._digits()
    np.savez(tmp_path / datasets.DIGITS_FILE, X_train=split.X_train.astype(np.float64), y_train=split.y_train,
             X_test=split.X_test, y_test=split.y_test)
    assert datasets._saved_digits(tmp_path) is None  # another dtype
    np.savez(tmp_path / datasets.DIGITS_FILE, X_train=split.X_train, y_train=split.y_train[:-1],
             X_test=split.X_test, y_test=split.y_test)
    assert datasets._saved_digits(tmp_path) is None  # a label short
    # and the grading falls back to scikit-learn: the same split
    assert np.array_equal(datasets._load_spec(datasets.DataSpec("digits", str(tmp_path))).y_test, split.y_test)

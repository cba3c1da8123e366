"""``grade --dataset fashion-mnist``: its rubric thresholds, real sandboxed trainings on a generated look-alike
of the four official files (784 pixels, the book's batch 256 and lr 0.1), and the CLI's message when the files
are missing or are not the official ones."""

from __future__ import annotations

import dataclasses

import pytest

from grader import grading, rubric
from grader.data import datasets
from grader.engine import references
from grader.engine.plan import GradingPlan

from . import fashion_like, submissions
from .conftest import KIT, run

CLASSIFIER_CHECKS = ("train.softmax_regression", "train.mlp")


@pytest.fixture(scope="module")
def look_alike(tmp_path_factory) -> datasets.DataSpec:
    """2,000 training and 500 test images: enough for the reference to pass the Fashion-MNIST thresholds."""
    directory = tmp_path_factory.mktemp("fashion-like")
    digests = fashion_like.write(directory, n_train=2000, n_test=500)
    return datasets.DataSpec("fashion-mnist", str(directory), tuple(sorted(digests.items()))).resolve()


def test_fashion_thresholds_come_from_the_book_and_are_marked_unmeasured(look_alike):
    checks = {c.id: c for c in rubric.checks_for_data(look_alike)}
    assert checks["train.softmax_regression"].threshold == 0.78  # the book's ≈ 0.83 less 0.05
    assert checks["train.mlp"].threshold == 0.80  # the book's ≈ 0.85 less 0.05
    for check_id in CLASSIFIER_CHECKS:
        assert not checks[check_id].threshold_measured and checks[check_id].data == look_alike
    for c in rubric.CHECKS:  # everything else, digits included, is untouched
        if c.id not in CLASSIFIER_CHECKS:
            assert checks[c.id] == c
    assert rubric.checks_for_data(datasets.DIGITS) == [
        dataclasses.replace(c, data=datasets.DIGITS) for c in rubric.CHECKS]


def test_the_data_spec_crosses_to_the_child_as_json(look_alike):
    assert datasets.DataSpec.from_json(look_alike.to_json()) == look_alike
    with pytest.raises(ValueError, match="unknown dataset"):
        datasets.DataSpec("mnist")


def test_the_reference_cache_is_kept_per_dataset(look_alike):
    assert references.disk_cache(None, datasets.DIGITS) != references.disk_cache(None, look_alike)
    other = dataclasses.replace(look_alike, checksums=(("train-labels-idx1-ubyte.gz", "0" * 64),))
    assert references.disk_cache(None, other) != references.disk_cache(None, look_alike)


@pytest.mark.end_to_end
def test_reference_passes_in_the_sandbox_on_784_pixels(look_alike):
    result, run_ = grading.grade(KIT / "solutions", GradingPlan(probes=["softmax_regression", "mlp"], data=look_alike))
    assert run_.observations["mlp"]["W1"].shape == (784, 256)
    assert run_.observations["softmax_regression"]["W"].shape == (784, 10)
    for c in result.checks:
        assert c.passed, c.message
        assert "on fashion-mnist" in c.message and "not yet measured" in c.message


@pytest.mark.end_to_end
def test_cross_entropy_returning_the_mean_loses_the_softmax_training(look_alike, tmp_path):
    """A scalar mean makes every step 1/256 of the book's: softmax regression stays near chance."""
    student = submissions.make(tmp_path / "mean", {"cross_entropy": """
        log_sum_exp = jax.nn.logsumexp(logits, axis=-1)
        return jnp.mean(log_sum_exp - jnp.take_along_axis(logits, y[:, None], axis=-1)[:, 0])
    """})
    result, _ = grading.grade(student, GradingPlan(probes=["softmax_regression", "mlp"], data=look_alike))
    verdicts = {c.id: c for c in result.checks}
    assert verdicts["train.softmax_regression"].points == 0
    assert "test accuracy" in verdicts["train.softmax_regression"].message
    assert verdicts["train.mlp"].passed  # the MLP uses the library's cross_entropy: no collateral loss


def grade_fashion(data_dir) -> tuple[int, str]:
    proc = run("-m", "grader", "solutions", "--dataset", "fashion-mnist", "--data-dir", str(data_dir), "--quiet")
    return proc.returncode, proc.stderr


@pytest.mark.end_to_end
def test_cli_names_the_missing_files_and_where_to_put_them(tmp_path):
    code, err = grade_fashion(tmp_path)
    assert code == 2 and "Traceback" not in err
    for name, official in datasets.FASHION_MNIST_FILES.items():
        assert f"{name}: missing" in err and official.sha256 in err
    assert f"place them in {tmp_path}" in err


@pytest.mark.end_to_end
def test_cli_refuses_files_that_are_not_the_official_ones(tmp_path):
    fashion_like.write(tmp_path, n_train=50, n_test=20)
    code, err = grade_fashion(tmp_path)
    assert code == 2 and "Traceback" not in err
    assert err.count("checksum mismatch") == 4


@pytest.mark.end_to_end
def test_batch_checks_the_files_before_grading_anyone(tmp_path):
    (tmp_path / "class" / "alice").mkdir(parents=True)
    proc = run("-m", "grader", "batch", str(tmp_path / "class"), "--dataset", "fashion-mnist", "--data-dir",
               str(tmp_path / "empty"), "--quiet")
    assert proc.returncode == 2 and "Fashion-MNIST is unavailable" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "class" / "grades").exists()

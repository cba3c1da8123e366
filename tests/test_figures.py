"""The figures of ``grade --report-dir``: what each one draws (axes, series, data), and the real CLI writing
the PNGs and the Markdown report that links them."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from matplotlib.image import imread

from grader import rubric
from grader.checks.common import Observations
from grader.checks.trainings import tasks
from grader.engine import probing, trusted
from grader.reports import curves, figures, report
from grader.reports.result import CheckResult, Result

from .conftest import run

# check id -> (epochs, the series of each panel, which panel carries the pass line)
TRAINING_FIGURES = {
    "train.linear_regression": (3, [["train"], ["error"]], 1),
    "train.softmax_regression": (10, [["train"], ["test"]], 1),
    "train.mlp": (10, [["train"], ["test"]], 1),
    "train.weight_decay": (100, [["train", "test"], ["train", "test"]], 1),
}


def labels(ax) -> list[str]:
    return [line.get_label() for line in ax.get_lines()]


def assert_curves(ax, epochs: int) -> None:
    """Every drawn series (not the pass line) has one finite point per epoch, x = 1..epochs."""
    for line in ax.get_lines():
        if line.get_label() == "pass line":
            continue
        x, y = np.asarray(line.get_xdata()), np.asarray(line.get_ydata(), np.float64)
        assert x.tolist() == list(range(1, epochs + 1)), line.get_label()
        assert len(y) == epochs and np.all(np.isfinite(y)), line.get_label()


@pytest.fixture(scope="module")
def polynomial_obs():
    return probing.observe(dict(trusted.FUNCTIONS), {}, ["polynomial"])["polynomial"]


@pytest.mark.parametrize("check_id", list(TRAINING_FIGURES))
def test_training_figure_draws_both_runs_per_panel(reference_obs, check_id):
    """Each panel draws the student's run (solid) and the reference's (dashed); a student run equal to the
    reference is one line labelled for both, so no legend entry names a line hidden under another."""
    epochs, series, threshold_panel = TRAINING_FIGURES[check_id]
    check = rubric.BY_ID[check_id]
    obs = reference_obs[check.probe]
    noise = np.random.default_rng(0)
    shifted = Observations({k: v + noise.normal(size=v.shape).astype(v.dtype) if v.dtype.kind == "f" else v
                            for k, v in obs.values.items()}, obs.errors)
    make = lambda s: curves.training_panels(s, check)  # noqa: E731
    for student, same in ((shifted, False), (obs, True)):
        fig = figures.comparison_figure(check_id, make, student, obs)
        assert len(fig.axes) == len(series)
        for i, (ax, names) in enumerate(zip(fig.axes, series)):
            drawn = [n for n in names if not same]
            expected = ([f"you = reference: {n}" for n in names] if same else
                        [f"you: {n}" for n in names] + [f"reference: {n}" for n in drawn])
            expected += ["pass line"] if i == threshold_panel else []
            assert labels(ax) == expected
            assert ax.get_xlabel() == "epoch" and ax.get_ylabel() and ax.get_title()
            assert_curves(ax, epochs)
            if i == threshold_panel:
                assert ax.get_lines()[-1].get_ydata()[0] == pytest.approx(check.threshold)
            assert ax.get_lines()[0].get_linestyle() == "-"
            if not same:
                assert ax.get_lines()[len(names)].get_linestyle() == "--"


def test_curves_end_at_the_judged_numbers(reference_obs):
    """The last point of each test curve is the number the judge compared with the threshold."""
    for task in ("softmax_regression", "mlp"):
        check = rubric.BY_ID[f"train.{task}"]
        test = curves.training_panels(reference_obs[task], check)[1].series["test"]
        assert test[-1] == pytest.approx(tasks.classifier_accuracy(task, reference_obs[task]))
        assert test[-1] >= check.threshold and test[-1] > test[0]  # it learnt
    panels = curves.training_panels(reference_obs["weight_decay"], rubric.BY_ID["train.weight_decay"])
    loss0, loss3 = tasks.weight_decay_test_losses(reference_obs["weight_decay"])
    assert panels[0].series["test"][-1] == pytest.approx(loss0) and panels[1].series["test"][-1] == pytest.approx(loss3)
    error = curves.training_panels(reference_obs["linear_regression"], rubric.BY_ID["train.linear_regression"])[1]
    assert error.series["error"][-1] == pytest.approx(tasks.linear_regression_error(reference_obs["linear_regression"]))


def test_a_wrong_penalty_draws_a_different_curve(reference_obs):
    """l2_penalty as the norm: the student's λ = 3 test loss stays high, far from the reference's."""
    fns = {"l2_penalty": lambda w: jnp.sqrt(jnp.sum(w ** 2))}
    student = probing.observe(fns, {}, ["weight_decay"])["weight_decay"]
    check = rubric.BY_ID["train.weight_decay"]
    fig = figures.comparison_figure("wd", lambda s: curves.training_panels(s, check), student,
                                    reference_obs["weight_decay"])
    lines = {line.get_label(): np.asarray(line.get_ydata()) for line in fig.axes[1].get_lines()}
    assert lines["you: test"][-1] > 10 * lines["reference: test"][-1]
    assert lines["you: test"][-1] > check.threshold >= lines["reference: test"][-1]


def test_a_failed_run_draws_the_reference_and_says_why(reference_obs):
    failed = Observations()
    failed.fail_all("the MLP trained with your relu: not implemented yet")
    check = rubric.BY_ID["train.mlp"]
    fig = figures.comparison_figure("mlp", lambda s: curves.training_panels(s, check), failed,
                                    reference_obs["mlp"])
    assert "not implemented yet" in fig.get_suptitle()
    failed.fail_all("x" * 5000)  # a long exception message is cut, not drawn over the whole figure
    title = figures.comparison_figure("mlp", lambda s: curves.training_panels(s, check), failed,
                                      reference_obs["mlp"]).get_suptitle()
    assert len(title) < figures.NOTE_CHARS + 20 and title.endswith("…")
    assert labels(fig.axes[0]) == ["reference: train"]
    assert labels(fig.axes[1]) == ["reference: test", "pass line"]
    assert all(line.get_linestyle() in ("--", ":") for ax in fig.axes for line in ax.get_lines())


def test_unreadable_student_parameters_do_not_break_the_figure(reference_obs):
    """A broken sgd that changed the parameters' shapes: the reference is drawn, the note says why."""
    broken = Observations({**reference_obs["softmax_regression"].values, "epochs.W": np.zeros((10, 3))})
    check = rubric.BY_ID["train.softmax_regression"]
    fig = figures.comparison_figure("s", lambda s: curves.training_panels(s, check), broken,
                                    reference_obs["softmax_regression"])
    assert "cannot be drawn" in fig.get_suptitle()
    assert labels(fig.axes[1]) == ["reference: test", "pass line"]


def test_a_diverged_run_is_named_not_hidden(reference_obs):
    """An sgd whose step is 1,000 times too large: the parameters blow up to nan/inf in the first epoch."""
    fns = {"data_iter": trusted.data_iter,
           "sgd": lambda p, g, lr, b: jax.tree.map(lambda p, g: p - 100 * lr * g, p, g)}
    student = probing.observe(fns, {}, ["linear_regression"])["linear_regression"]
    check = rubric.BY_ID["train.linear_regression"]
    fig = figures.comparison_figure("lr", lambda s: curves.training_panels(s, check), student,
                                    reference_obs["linear_regression"])
    assert re.search(r"nan/inf at epoch \d", fig.get_suptitle())
    assert labels(fig.axes[1]) == ["you: error", "reference: error", "pass line"]


def test_polynomial_figure_shows_under_and_over_fitting(polynomial_obs):
    fig = figures.polynomial_figure(polynomial_obs, polynomial_obs)
    # what ran: the grader's fits with the student's data_iter and sgd, not the section script's optax.sgd
    assert fig._suptitle.get_text().startswith("Polynomial fits the grader trained with your data_iter and sgd: ")
    assert len(fig.axes) == 3
    titles = [ax.get_title() for ax in fig.axes]
    assert "third order" in titles[0] and "underfit" in titles[1] and "overfit" in titles[2]
    final = {}
    for ax, title in zip(fig.axes, ("normal", "underfit", "overfit")):
        assert labels(ax) == ["you = reference: train", "you = reference: test"]  # the same run: one line each
        assert ax.get_yscale() == "log"
        assert_curves(ax, 400)
        final[title] = {line.get_label().split(": ")[1]: line.get_ydata()[-1] for line in ax.get_lines()}
    assert final["normal"]["test"] < 0.1  # the cubic is recovered: ≈ 0.01, as in the book
    assert final["underfit"]["train"] > 1.0  # a line cannot follow it
    assert final["overfit"]["test"] > 10 * final["overfit"]["train"]  # memorised two points


def test_markdown_links_the_figures():
    result = Result((CheckResult("train.mlp", "mlp", 6, 6, True, "ok"),))
    text = report.markdown(result, figures={"train.mlp": "train.mlp.png", "polynomial": "polynomial.png"})
    assert "### Training curves" in text
    assert "![train.mlp](train.mlp.png)" in text and "![polynomial](polynomial.png)" in text
    assert "Training curves" not in report.markdown(result)


def assert_png_drawn(path) -> None:
    image = imread(path)
    assert image.ndim == 3 and image.shape[1] >= 800 and image.shape[0] >= 300
    ink = np.mean(np.any(image[..., :3] < 0.9, axis=-1))
    assert 0.02 < ink < 0.6, f"{path.name}: {ink:.3f} of the pixels are drawn"
    assert len(np.unique(image[..., :3].reshape(-1, 3), axis=0)) > 50  # lines in several colours, text


@pytest.mark.end_to_end
def test_report_dir_through_the_cli(kit, tmp_path):
    out = tmp_path / "figures"
    proc = run("-m", "grader", "solutions", "--only", "data_iter,cross_entropy", "--report-dir", str(out),
               "--quiet", cwd=kit)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("Score: ")
    written = sorted(p.name for p in out.iterdir())
    assert written == ["polynomial.png", "report.md", "train.linear_regression.png", "train.softmax_regression.png"]
    text = (out / "report.md").read_text()
    assert text.startswith("## Grade: ")
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert sorted(links) == sorted(p for p in written if p.endswith(".png"))
    for name in links:
        assert_png_drawn(out / name)


@pytest.mark.end_to_end
def test_report_dir_for_unfinished_stubs(kit, tmp_path):
    """Stubs: every figure is still written (the reference's curves, with the reason the student's is missing)."""
    out = tmp_path / "figures"
    proc = run("-m", "grader", "exercises", "--only", "relu", "--report-dir", str(out), "--quiet", cwd=kit)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["report.md", "train.mlp.png"]
    assert_png_drawn(out / "train.mlp.png")
    assert "![train.mlp](train.mlp.png)" in (out / "report.md").read_text()


def test_save_curves_draws_every_run_in_every_panel(tmp_path):
    runs = {"scratch": {"λ = 0": {"train": [3.0, 2.0, 1.0], "test": [4.0, 4.0, 4.0]},
                        "λ = 3": {"train": [3.0, 1.0, 0.5], "test": [4.0, 2.0, 1.0]}},
            "concise": {"λ = 0": {"train": [3.0, 2.1, 1.1], "test": [4.0, 4.1, 4.0]},
                        "λ = 3": {"train": [3.0, 1.1, 0.4], "test": [4.0, 2.1, 0.9]}}}
    fig = figures.runs_figure("weight decay", runs, ylabel="loss", log=True)
    assert len(fig.axes) == 2 and fig.get_suptitle() == "weight decay"
    for ax, title in zip(fig.axes, ("λ = 0", "λ = 3")):
        assert ax.get_title() == title and ax.get_yscale() == "log"
        assert labels(ax) == ["scratch: train", "scratch: test", "concise: train", "concise: test"]
        assert_curves(ax, 3)
        assert ax.get_ylabel() == "loss"
    assert_png_drawn(figures.save_curves(tmp_path / "wd.png", "weight decay", runs, ylabel="loss", log=True))


@pytest.mark.end_to_end
def test_a_solution_script_saves_the_books_figure(kit, tmp_path):
    proc = run("-m", "solutions.weight_decay", str(tmp_path / "curves.png"), cwd=kit)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"saved {tmp_path / 'curves.png'}" in proc.stdout
    assert_png_drawn(tmp_path / "curves.png")


@pytest.mark.end_to_end
def test_an_unwritable_report_dir_keeps_the_report_and_says_so(kit, tmp_path):
    blocker = tmp_path / "taken"
    blocker.write_text("a file where the folder should go")
    proc = run("-m", "grader", "solutions", "--only", "relu", "--report-dir", str(blocker), "--quiet", cwd=kit)
    assert proc.returncode == 2 and proc.stdout.startswith("Score: 13/13")
    assert f"cannot write the figures into {blocker}" in proc.stderr and "Traceback" not in proc.stderr

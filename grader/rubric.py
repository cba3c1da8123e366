"""The rubric: every check, its target, points, tolerance and visibility, in one table.

Front ends (``pytest exercises/``, the ``grade`` command, nbgrader cells) all read this table, so the same
submission earns the same points everywhere. A check is judged by ``judge(student_obs, reference_obs, check)``
on the observations of its probe; ``PROBES`` says which student functions each probe runs.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable

from grader.checks import common, cross_entropy, data_iter, hidden, l2_penalty, relu, sgd, softmax
from grader.checks.trainings import polynomial, tasks
from grader.data import datasets

# The six functions students write, and the exercise module each one lives in.
STUDENT_FUNCTIONS: dict[str, str] = {
    "data_iter": "linear_regression",
    "sgd": "linear_regression",
    "softmax": "softmax_regression",
    "cross_entropy": "softmax_regression",
    "relu": "mlp",
    "l2_penalty": "weight_decay",
}


# Library functions that solve an exercise outright: a student function that uses one (directly, through a helper
# of any file of the submission, or spelled out with getattr / importlib) loses all of its own checks. Matching is
# by dotted prefix, so "grader" (the grading kit itself) covers every module of the kit. Log-sum-exp
# (jax.nn.logsumexp, jax.scipy.special.logsumexp) stays allowed: it is the intended technique. Instructors may
# edit this list.
FORBIDDEN_SHORTCUTS: dict[str, tuple[str, ...]] = {
    "data_iter": ("grader",),
    "softmax": ("jax.nn.softmax", "jax.nn.log_softmax", "jax.scipy.special.softmax", "jax.scipy.special.log_softmax",
                "flax.nnx.softmax", "flax.nnx.log_softmax", "flax.linen.softmax", "flax.linen.log_softmax", "grader"),
    "cross_entropy": ("optax.softmax_cross_entropy", "optax.softmax_cross_entropy_with_integer_labels",
                      "optax.safe_softmax_cross_entropy", "optax.losses.softmax_cross_entropy",
                      "optax.losses.softmax_cross_entropy_with_integer_labels",
                      "optax.losses.safe_softmax_cross_entropy", "jax.nn.log_softmax", "jax.nn.softmax",
                      "jax.scipy.special.log_softmax", "jax.scipy.special.softmax", "flax.nnx.log_softmax",
                      "flax.nnx.softmax", "flax.linen.log_softmax", "flax.linen.softmax", "grader"),
    "sgd": ("optax.sgd", "grader"),
    "relu": ("jax.nn.relu", "jax.nn.leaky_relu", "flax.nnx.relu", "flax.nnx.leaky_relu", "flax.linen.relu",
             "flax.linen.leaky_relu", "grader"),
    "l2_penalty": ("optax.l2_loss", "optax.losses.l2_loss", "grader"),
}


@dataclasses.dataclass(frozen=True)
class Probe:
    """Runs student functions (``uses``) on seeded inputs: ``run({name: function}) -> Observations``.

    A training task uses the student's functions of its own section (module, notebook) and the trusted
    library's for the parts of other sections, so a bug costs its own section only and every front end,
    a notebook included, can run it with what it has.
    """

    name: str
    uses: tuple[str, ...]
    run: Callable
    needs_data: bool = False  # ``run(functions, data=DataSpec)``: trains on the chosen classification set
    seconds: float = 0.5      # its time in a child on a 2-core box, compilation cache warm: to split the probes
    prepare: Callable | None = None  # ``prepare(data)``: what its judges compute that no student decides (cached)
    hidden: bool = False      # ``run(functions, seed=seed)``: a hidden variant, its inputs drawn from a secret seed


PROBES: dict[str, Probe] = {p.name: p for p in (
    Probe("data_iter", ("data_iter",), data_iter.probe, seconds=0.5),
    Probe("softmax", ("softmax",), softmax.probe, seconds=0.7),
    Probe("cross_entropy", ("cross_entropy",), cross_entropy.probe, seconds=0.5),
    Probe("sgd", ("sgd",), sgd.probe, seconds=0.3, prepare=lambda data: sgd.optax_path()),
    Probe("relu", ("relu",), relu.probe, seconds=0.2),
    Probe("l2_penalty", ("l2_penalty",), l2_penalty.probe, seconds=0.1),
    Probe("linear_regression", ("data_iter", "sgd"), tasks.probe_linear_regression, seconds=0.5),
    Probe("softmax_regression", ("cross_entropy",), tasks.probe_softmax_regression, needs_data=True,
          seconds=1.4, prepare=lambda data: data.load()),
    Probe("mlp", ("relu",), tasks.probe_mlp, needs_data=True, seconds=0.8,
          prepare=lambda data: data.load()),
    Probe("weight_decay", ("l2_penalty",), tasks.probe_weight_decay, seconds=1.3,
          prepare=lambda data: tasks.weight_decay_data()),
)}

# Probes no check judges: they only feed the figures of ``grade --report-dir``.
FIGURE_PROBES: dict[str, Probe] = {p.name: p for p in (
    Probe("polynomial", ("data_iter", "sgd"), polynomial.probe, seconds=1.5),
)}

# Hidden variants of the functions' probes: the same calls on inputs drawn from a seed that only the instructor's
# secret and the student's id give (:mod:`grader.engine.secret`), so answers written in for the public inputs fail
# there.
HIDDEN_PROBES: dict[str, Probe] = {p.name: p for p in (
    Probe(f"hidden.{function}", (function,), module.probe, seconds=seconds, hidden=True)
    for function, module, seconds in (("data_iter", data_iter, 0.5), ("softmax", softmax, 0.7),
                                      ("cross_entropy", cross_entropy, 0.5), ("sgd", sgd, 0.4),
                                      ("relu", relu, 0.2), ("l2_penalty", l2_penalty, 0.1)))}
ALL_PROBES: dict[str, Probe] = {**PROBES, **FIGURE_PROBES, **HIDDEN_PROBES}


def with_figure_probes(probes) -> list[str]:
    """``probes`` and the figure probes that use only functions those already run (for ``--report-dir``)."""
    used = {f for p in probes for f in PROBES[p].uses}
    return list(probes) + [p.name for p in FIGURE_PROBES.values() if set(p.uses) <= used]

# float32 tolerances: values agree to ~1e-5 relative, gradients to ~1e-4. Near ±1e4 the float32 spacing is
# ~1e-3, so correct alternatives (exp(x - logsumexp(x)), say) differ there by up to that much.
VALUE_TOL = dict(rtol=1e-5, atol=1e-6)
GRAD_TOL = dict(rtol=1e-4, atol=1e-6)


@dataclasses.dataclass(frozen=True)
class Check:
    """One line of the rubric: what is checked, on which probe's observations, for how many points.

    ``id`` is ``<target>.<name>``; the check module's judge is ``judge_<name>`` (dots as underscores) and, where one
    observation decides, the probe records it under ``<name>`` too (``softmax.stability.neg_inf`` →
    ``softmax.judge_stability_neg_inf`` → key ``stability_neg_inf``). ``judge(student, reference, check)``
    returns a :class:`~grader.checks.common.Verdict`; ``rtol``/``atol`` are its tolerances, ``threshold`` a
    training's pass line. ``visible`` is False for the hidden checks, whose ``seed`` (set per student, see
    :func:`with_seeds`) says which hidden inputs their probe used.
    """

    id: str
    target: str
    probe: str
    points: float
    judge: Callable
    description: str
    rtol: float = 1e-5
    atol: float = 1e-6
    threshold: float | None = None
    visible: bool = True
    threshold_measured: bool = True  # False: taken from the book's figures, not yet measured with this kit
    threshold_from: str = ""  # the course file that set the threshold ("": the kit's)
    data: datasets.DataSpec = datasets.DIGITS  # the classification set of the training checks
    seed: int | None = None  # a hidden check's inputs (its probe's seed); None: the public inputs


def _c(id, probe, points, judge, description, target=None, **kw) -> Check:
    return Check(id=id, target=target or probe, probe=probe, points=float(points), judge=judge,
                 description=description, **kw)


CHECKS: tuple[Check, ...] = (
    # data_iter — 16
    _c("data_iter.generator", "data_iter", 2, data_iter.judge_generator, "is a generator function (uses yield)"),
    _c("data_iter.each_example_once", "data_iter", 4, data_iter.judge_each_example_once,
       "every example exactly once per pass (jax and NumPy inputs)"),
    _c("data_iter.pairs_kept", "data_iter", 2, data_iter.judge_pairs_kept,
       "features stay beside their labels, and the arrays given are left as they were"),
    _c("data_iter.batch_sizes", "data_iter", 3, data_iter.judge_batch_sizes,
       "batches of batch_size, the last partial batch kept"),
    _c("data_iter.key_order", "data_iter", 3, data_iter.judge_key_order,
       "the key decides the order: same key same order, different keys different orders"),
    _c("data_iter.shuffles_examples", "data_iter", 2, data_iter.judge_shuffles_examples,
       "examples are shuffled, not whole batches"),
    # softmax — 17
    _c("softmax.values", "softmax", 4, softmax.judge_values, "values on a seeded (8, 5) array", **VALUE_TOL),
    _c("softmax.last_axis", "softmax", 2, softmax.judge_last_axis, "normalises over the last axis of a 3-D array",
       **VALUE_TOL),
    _c("softmax.stability.large_logits", "softmax", 4, softmax.judge_stability_large_logits,
       "finite and correct for logits of ±1e4 (value and gradient)", rtol=1e-3, atol=1e-3),
    _c("softmax.stability.neg_inf", "softmax", 2, softmax.judge_stability_neg_inf,
       "rows mixing -inf with finite entries (value and gradient)", **VALUE_TOL),
    _c("softmax.stability.row_scales", "softmax", 2, softmax.judge_stability_row_scales,
       "rows of very different scales", **VALUE_TOL),
    _c("softmax.shift_invariance", "softmax", 1, softmax.judge_shift_invariance,
       "unchanged by a constant added to a row", rtol=1e-4, atol=1e-6),
    _c("softmax.grad", "softmax", 1, softmax.judge_grad, "jax.grad agrees with the reference", **GRAD_TOL),
    _c("softmax.jit", "softmax", 1, softmax.judge_jit, "works under jax.jit", **VALUE_TOL),
    # cross_entropy — 17
    _c("cross_entropy.values", "cross_entropy", 5, cross_entropy.judge_values,
       "per-example losses of shape (n,) on seeded logits", rtol=1e-5, atol=1e-5),
    _c("cross_entropy.stability.large_logits", "cross_entropy", 4, cross_entropy.judge_stability_large_logits,
       "finite and correct for logits of ±1e4", rtol=1e-5, atol=1e-3),
    _c("cross_entropy.stability.grad", "cross_entropy", 3, cross_entropy.judge_stability_grad,
       "gradient finite and correct for logits of ±1e4", **GRAD_TOL),
    _c("cross_entropy.shift_invariance", "cross_entropy", 1, cross_entropy.judge_shift_invariance,
       "unchanged by a constant added to a row of logits", rtol=1e-4, atol=1e-4),
    _c("cross_entropy.grad", "cross_entropy", 3, cross_entropy.judge_grad, "jax.grad agrees with the reference",
       **GRAD_TOL),
    _c("cross_entropy.jit", "cross_entropy", 1, cross_entropy.judge_jit, "works under jax.jit", rtol=1e-5, atol=1e-5),
    # sgd — 14
    _c("sgd.update", "sgd", 5, sgd.judge_update, "p - lr * g / batch_size on a dict of parameters", **VALUE_TOL),
    _c("sgd.any_pytree", "sgd", 3, sgd.judge_any_pytree, "lists, tuples and nested pytrees keep their structure",
       **VALUE_TOL),
    _c("sgd.no_mutation", "sgd", 2, sgd.judge_no_mutation, "does not change its inputs"),
    _c("sgd.jit", "sgd", 2, sgd.judge_jit, "works under jax.jit", **VALUE_TOL),
    _c("sgd.matches_optax", "sgd", 2, sgd.judge_matches_optax, "several steps agree with optax.sgd(lr / batch_size)",
       rtol=1e-5, atol=1e-5),
    # relu — 7
    _c("relu.values", "relu", 3, relu.judge_values, "max(x, 0) with the input's shape and dtype (float32, float16)",
       rtol=0, atol=0),
    _c("relu.grad", "relu", 3, relu.judge_grad, "jax.grad is 0 / 1 away from 0 and in [0, 1] at 0", rtol=0, atol=0),
    _c("relu.jit", "relu", 1, relu.judge_jit, "works under jax.jit", rtol=0, atol=0),
    # l2_penalty — 7
    _c("l2_penalty.values", "l2_penalty", 4, l2_penalty.judge_values, "sum(w ** 2) / 2, a scalar of shape ()",
       **VALUE_TOL),
    _c("l2_penalty.grad", "l2_penalty", 2, l2_penalty.judge_grad, "jax.grad is w", **GRAD_TOL),
    _c("l2_penalty.jit", "l2_penalty", 1, l2_penalty.judge_jit, "works under jax.jit", **VALUE_TOL),
    # training with the student's parts — 22
    _c("train.linear_regression", "linear_regression", 5, tasks.judge_linear_regression,
       "linear regression recovers w = [2, -3.4], b = 4.2", threshold=0.01),
    _c("train.softmax_regression", "softmax_regression", 6, tasks.judge_softmax_regression,
       "softmax regression reaches the test-accuracy threshold of the dataset", threshold=0.92),
    _c("train.mlp", "mlp", 6, tasks.judge_mlp, "the MLP reaches the test-accuracy threshold of the dataset",
       threshold=0.92),
    _c("train.weight_decay", "weight_decay", 5, tasks.judge_weight_decay,
       "λ = 3 lowers the test loss below the threshold and below λ = 0's", threshold=1.0),
)

# Thresholds of the classifier trainings on other datasets than digits (whose thresholds are in CHECKS,
# measured with benchmarks/calibrate.py). Fashion-MNIST: the book reports test accuracy ≈ 0.83 (softmax
# regression) and ≈ 0.85 (MLP) after 10 epochs of batch 256, lr 0.1; the thresholds keep a margin of 0.05
# and stay marked unmeasured until someone runs the calibration on the real files.
DATASET_THRESHOLDS: dict[str, dict[str, tuple[float, bool]]] = {
    "fashion-mnist": {"train.softmax_regression": (0.78, False), "train.mlp": (0.80, False)},
}


def checks_for_data(data: datasets.DataSpec, checks=None) -> list[Check]:
    """``checks`` (default: all) with the training checks set to ``data`` and its thresholds."""
    overrides = DATASET_THRESHOLDS.get(data.name, {})
    out = []
    for c in CHECKS if checks is None else checks:
        if PROBES[c.probe].needs_data and not c.threshold_from:  # a course's threshold holds on its dataset
            threshold, measured = overrides.get(c.id, (c.threshold, c.threshold_measured))
            c = dataclasses.replace(c, data=data, threshold=threshold, threshold_measured=measured)
        out.append(c)
    return out


# Hidden checks: each function's public checks judged again on its hidden probe (the same judges, against the
# reference on the same hidden inputs), worth points of their own. They run only with an instructor's secret
# (``--secret-file``); without one they are reported as not run. Points: a share of these in proportion to the
# public checks' points that hold on the hidden inputs.
HIDDEN_POINTS: dict[str, float] = {"data_iter": 3, "softmax": 3, "cross_entropy": 3, "sgd": 3, "relu": 2,
                                    "l2_penalty": 2}


def _hidden_checks(checks: tuple[Check, ...], points: dict[str, float]) -> tuple[Check, ...]:
    """Each function's hidden check: its public ``checks`` judged on the hidden inputs, for ``points[function]``."""
    return tuple(
        _c(f"{function}.hidden", f"hidden.{function}", points[function],
           functools.partial(hidden.judge, public=tuple(c for c in checks if c.target == function)),
           f"the public checks of {function} on hidden inputs of the same kinds (not shown)", target=function,
           visible=False)
        for function in points)


HIDDEN_CHECKS: tuple[Check, ...] = _hidden_checks(CHECKS, HIDDEN_POINTS)

BY_ID: dict[str, Check] = {c.id: c for c in CHECKS + HIDDEN_CHECKS}
TARGETS: tuple[str, ...] = tuple(dict.fromkeys(c.target for c in CHECKS))


def section_order(targets) -> list[str]:
    """``targets`` in the order of the course's sections (the exercise modules of :data:`STUDENT_FUNCTIONS`):
    each section's functions, then its training (a training target is named after its module): data_iter, sgd,
    linear_regression, softmax, cross_entropy, softmax_regression, … Any other target follows, in rubric order."""
    modules = list(dict.fromkeys(STUDENT_FUNCTIONS.values()))
    functions = list(STUDENT_FUNCTIONS)
    rubric_order = {t: i for i, t in enumerate(TARGETS)}

    def key(target: str) -> tuple:
        if target in STUDENT_FUNCTIONS:
            return (modules.index(STUDENT_FUNCTIONS[target]), 0, functions.index(target))
        if target in modules:
            return (modules.index(target), 1, 0)
        return (len(modules), 0, rubric_order.get(target, len(rubric_order)))
    return sorted(dict.fromkeys(targets), key=key)


MAX_SCORE: float = sum(c.points for c in CHECKS)  # the public checks' (the hidden ones add HIDDEN_MAX_SCORE)
HIDDEN_MAX_SCORE: float = sum(c.points for c in HIDDEN_CHECKS)


common.read_checks_from(lambda: BY_ID)  # the known mistakes' "same cause as <check>" judges the rubric in force

# The kit's own rubric, kept as shipped: :func:`configure` builds a course's from it.
KIT_CHECKS, KIT_FORBIDDEN_SHORTCUTS = CHECKS, dict(FORBIDDEN_SHORTCUTS)
KIT_IDS: dict[str, Check] = {c.id: c for c in KIT_CHECKS}


def configure(course) -> None:
    """Set this module's rubric (``CHECKS``, ``HIDDEN_CHECKS``, ``BY_ID``, ``MAX_SCORE``, ``HIDDEN_MAX_SCORE``,
    ``FORBIDDEN_SHORTCUTS``) to the kit's with ``course``'s settings (:class:`grader.course_file.Course`): each check's
    points, threshold, tolerances and visibility; each hidden check's points; each function's forbidden routines.
    The kit's rubric is the course without settings."""
    global CHECKS, HIDDEN_CHECKS, BY_ID, MAX_SCORE, HIDDEN_MAX_SCORE, FORBIDDEN_SHORTCUTS

    def adjusted(check: Check, settings: dict) -> Check:
        return dataclasses.replace(check, **{k: (float(v) if k != "visible" else v) for k, v in settings.items()},
                                   **({"threshold_from": course.name} if "threshold" in settings else {}))

    CHECKS = tuple(adjusted(c, course.checks.get(c.id, {})) for c in KIT_CHECKS)
    HIDDEN_CHECKS = _hidden_checks(CHECKS, {**HIDDEN_POINTS, **course.hidden})
    BY_ID = {c.id: c for c in CHECKS + HIDDEN_CHECKS}
    MAX_SCORE = sum(c.points for c in CHECKS)
    HIDDEN_MAX_SCORE = sum(c.points for c in HIDDEN_CHECKS)
    FORBIDDEN_SHORTCUTS = {**KIT_FORBIDDEN_SHORTCUTS, **course.forbidden}


def with_seeds(checks, seeds: dict[str, int]) -> list[Check]:
    """``checks`` and, for each hidden probe in ``seeds``, its hidden check with that seed."""
    return list(checks) + [dataclasses.replace(c, seed=seeds[c.probe]) for c in HIDDEN_CHECKS if c.probe in seeds]


def checks_for(targets=None, visible_only: bool = False) -> list[Check]:
    return [c for c in CHECKS if (targets is None or c.target in targets) and (c.visible or not visible_only)]


def probes_for_functions(functions) -> list[str]:
    """The probes that grade ``functions``: each one's own probe and the trainings of its section."""
    wanted = set(functions)
    unknown = wanted - set(STUDENT_FUNCTIONS)
    if unknown:
        raise ValueError(f"unknown functions {sorted(unknown)}; choose from {sorted(STUDENT_FUNCTIONS)}")
    return [p.name for p in PROBES.values() if wanted & set(p.uses)]

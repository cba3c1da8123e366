"""Every report says what graded it: the kit, Python, the libraries, the numerics and the data."""

from __future__ import annotations

import importlib.metadata
import json
import platform

from grader.data import datasets
from grader.reports import inert, manifest, report
from grader.reports.result import CheckResult, Result

RESULT = Result((CheckResult("relu.values", "relu", 3, 3, True, "ok"),), environment=manifest.environment())


def test_manifest_names_versions_numerics_and_data():
    env = manifest.environment()
    assert env["kit"] == importlib.metadata.version("dl-basics-grader")
    assert env["python"] == platform.python_version()
    assert env["packages"]["jax"] == importlib.metadata.version("jax")
    assert env["backend"] == "cpu" and env["x64"] is False
    fashion = datasets.DataSpec("fashion-mnist", None, (("train-images", "ab" * 32),))
    assert manifest.environment(fashion)["dataset"] == {"name": "fashion-mnist",
                                                        "checksums": {"train-images": "ab" * 32}}
    line = manifest.describe(manifest.environment(fashion))
    assert line.startswith(f"dl-basics-grader {env['kit']}, Python {env['python']}, "
                           f"jax {env['packages']['jax']} (cpu, float32)")
    assert line.endswith("dataset fashion-mnist (checksums train-images abababababab)")
    assert "dataset digits (scikit-learn " in manifest.describe(env)


def test_every_format_carries_it_and_a_saved_report_keeps_it():
    assert Result.from_dict(json.loads(RESULT.to_json())) == RESULT
    assert f"Graded with: {manifest.describe(RESULT.environment)}" in report.render(RESULT, "text")
    # Markdown shows the trailer as inert text (grader.reports.inert.markdown): the same characters once rendered
    assert inert.markdown(manifest.describe(RESULT.environment)) in report.render(RESULT, "markdown")
    assert json.loads(report.render(RESULT, "gradescope"))["extra_data"]["environment"] == RESULT.environment

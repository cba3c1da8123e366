"""What graded a submission: the environment manifest every report carries.

A score is only comparable with another when the same kit, libraries, numerics and data produced both; a
regrade months later, a TA's machine and CI can then be told apart at a glance. The manifest holds the kit's
version, Python's, those of the libraries that compute the observations (jax, jaxlib, flax, optax, numpy), JAX's
backend and whether 64-bit floats were on, and the dataset with the checksums its files were verified against
(digits ships inside scikit-learn, whose version stands for it), and, when hidden checks ran, the fingerprint
of the instructor's secret (:meth:`grader.engine.secret.Secret.fingerprint`, never the secret), and the course file's
name and SHA-256 when one set the rubric (:mod:`grader.course_file`). The isolation layers
are the report's own ``isolation`` entry.
"""

from __future__ import annotations

import functools
import platform
from importlib import metadata

from grader.data import datasets

PACKAGES = ("jax", "jaxlib", "flax", "optax", "numpy")


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


@functools.lru_cache(maxsize=None)
def _software() -> dict:
    import jax

    return {"kit": _version("dl-basics-grader"), "python": platform.python_version(),
            "packages": {name: _version(name) for name in PACKAGES},
            "backend": jax.default_backend(), "x64": bool(jax.config.jax_enable_x64)}


def environment(data: datasets.DataSpec = datasets.DIGITS, secret=None) -> dict:
    """The manifest of this process grading on ``data`` (JSON-ready), with ``secret``'s fingerprint if given."""
    dataset = {"name": data.name, "checksums": dict(data.checksums)}
    if data.name == "digits":
        dataset["source"] = f"scikit-learn {_version('scikit-learn')}"
    out = {**_software(), "dataset": dataset}
    from grader import course_file as course

    if course.current().sha256:  # a course file's settings over the kit's rubric
        out["course"] = {"file": course.current().name, "sha256": course.current().sha256}
    if secret is not None:
        out["secret"] = secret.fingerprint()
    return out


def describe(env: dict) -> str:
    """One line: ``dl-basics-grader 0.1.0, Python 3.11.7, jax 0.10.2 (cpu, float32), …, dataset digits``."""
    packages = env.get("packages", {})
    width = "float64 on" if env.get("x64") else "float32"
    libraries = ", ".join(f"{name} {packages[name]}" + (f" ({env.get('backend')}, {width})" if name == "jax" else "")
                          for name in PACKAGES if name in packages)
    dataset = env.get("dataset", {})
    sums = dataset.get("checksums") or {}
    data = dataset.get("name", "?") + (f" (checksums {', '.join(f'{k} {v[:12]}' for k, v in sorted(sums.items()))})"
                                       if sums else f" ({dataset['source']})" if dataset.get("source") else "")
    hidden = f"; hidden inputs from secret {env['secret']}" if env.get("secret") else ""
    course = env.get("course")
    rubric = f"; course file {course['file']} (sha256 {course['sha256'][:12]})" if course else ""
    return (f"dl-basics-grader {env.get('kit', '?')}, Python {env.get('python', '?')}, {libraries}; dataset {data}"
            f"{rubric}{hidden}")

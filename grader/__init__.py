"""Grading kit for the deep-learning basics chapter.

One rubric (:mod:`grader.rubric`), one check library (:mod:`grader.checks`), and thin front ends: the ``grade``
command line (:mod:`grader.cli`, :mod:`grader.batch`), the pytest plugin used by ``pytest exercises/`` and the
nbgrader cells and autograde step. The stages live in sub-packages: :mod:`grader.engine` (the sandbox and what
runs in it, the reference), :mod:`grader.data`, :mod:`grader.reports` and :mod:`grader.authoring`.
"""

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent  # grader/: copied whole into each sandboxed child
KIT_DIR = PACKAGE_DIR.parent                   # the checkout: solutions/, exercises/, pyproject.toml

"""The text templates of ``grader/authoring/templates/`` (package data) and their ``@name@`` markers.

A template is a plain text file (the students' workflow, their README) read with :mod:`importlib.resources`, so
it travels with the ``grader`` package wherever that goes: an installed kit, the ``grader/`` of a release, the
kit inside a Gradescope autograder. A marker is a lower-case name between two ``@`` (``@artifact@``); nothing
else in a template is special, so ``${{ ... }}``, ``$VAR`` and braces stay as they are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from importlib import resources

MARKER = re.compile(r"@([a-z_-]+)@")


def read(name: str) -> str:
    """The text of the template ``name`` (a file name in ``grader/authoring/templates/``)."""
    return resources.files("grader.authoring").joinpath("templates", name).read_text(encoding="utf-8")


def fill(name: str, values: Mapping[str, str]) -> str:
    """The template ``name`` with every marker replaced by its value; a marker without a value, or a value
    without a marker, is a mistake and raises :class:`KeyError`."""
    text = read(name)
    used = set(MARKER.findall(text))
    if used != set(values):
        raise KeyError(f"{name}: markers without a value {sorted(used - set(values))}, "
                       f"values without a marker {sorted(set(values) - used)}")
    return MARKER.sub(lambda m: values[m.group(1)], text)

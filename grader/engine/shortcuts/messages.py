"""The findings as feedback: the sentence a student function's labels earn (the library calls that solve the
exercise outright, the grading kit, what cannot be checked), and the message of each student function of the
rubric that earns one.
"""

from __future__ import annotations

from typing import Iterable

from grader import rubric
from grader.engine.shortcuts.denotes import under, unique
from grader.engine.shortcuts.reach import Scan
from grader.engine.shortcuts.rules import KIT_PACKAGE


def message(function: str, names: Iterable[str]) -> str:
    """The feedback for a function whose labels (:func:`grader.engine.shortcuts.find`) are ``names``."""
    names = unique(names)
    dotted = [n for n in names if all(part.isidentifier() for part in n.split("."))]
    kit = [n for n in dotted if under(n, KIT_PACKAGE)]
    library = [n for n in dotted if n not in kit]
    unchecked = [n for n in names if n not in dotted]
    sentences = []
    if library:
        sentences.append(f"{function} calls {', '.join(library)}, which solves the exercise outright: write it "
                         "yourself with jax.numpy operations")
    if kit:
        sentences.append(f"{function} uses {', '.join(kit)}: importing the grading kit is not allowed")
    if unchecked:
        sentences.append(f"{function} cannot be checked for forbidden shortcuts: {'; '.join(unchecked)}")
    return "; ".join(sentences) + " (none of its checks score while it does)"


def messages(scan: Scan) -> dict[str, str]:
    """``{function: message}`` for each student function of the rubric that earns a label in ``scan``."""
    out = {}
    for function, module in rubric.STUDENT_FUNCTIONS.items():
        names = scan.find(module, function, rubric.FORBIDDEN_SHORTCUTS.get(function, ()))
        if names:
            out[function] = message(function, names)
    return out

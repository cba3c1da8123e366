"""The rules: what a reference that a student function reaches costs it. A library name under one of the
function's forbidden names (``jax.nn.softmax``; a whole package such as ``grader`` names what was used in it);
code built at run time (``exec``, ``importlib``, ``pickle``: the scan cannot see what it runs); an attribute of a
forbidden library chosen by a computed name; a note of what cannot be checked; a module of the submission that
cannot be read. Anything else is free.
"""

from __future__ import annotations

from grader.engine.shortcuts.denotes import Computed, Ext, Imported, Mod, Note, display, under

KIT_PACKAGE = __name__.partition(".")[0]  # the grading kit's own package, "grader"

# Code made at run time: the scan cannot see what it runs. A trailing "*" matches any name starting so.
RUNTIME_CODE = ("builtins.exec", "builtins.eval", "builtins.compile", "builtins.__import__", "importlib.*",
                "pickle.load", "pickle.loads", "marshal", "types.FunctionType", "types.CodeType", "runpy",
                "code.interact", "code.InteractiveInterpreter", "code.InteractiveConsole", "codeop")


def label_of(ref, forbidden: tuple[str, ...]) -> str | None:
    """The label a reached reference earns for a function with these forbidden names, if any."""
    if isinstance(ref, (Ext, Imported)):
        for name in forbidden:
            if under(ref.dotted, name):
                return name if "." in name else ref.dotted  # a whole package: say what was used in it
        if isinstance(ref, Ext) and any(under(ref.dotted, code) for code in RUNTIME_CODE):
            return f"{display(ref.dotted)} (code built at run time cannot be checked)"
    elif isinstance(ref, Computed):
        if any(under(name, ref.dotted) or under(ref.dotted, name) for name in forbidden):
            return f"{ref.dotted}.<computed name> (an attribute chosen at run time cannot be checked)"
    elif isinstance(ref, Note):
        return ref.text
    elif isinstance(ref, Mod) and ref.module.reason:
        return ref.module.problem
    return None


def most_specific(labels: list[str]) -> list[str]:
    """Drop a label that another one extends (``grader.engine.trusted`` beside ``grader.engine.trusted.relu``)."""
    return [label for label in labels if not any(other.startswith(label + ".") for other in labels)]

"""What ``python -m exercises.<section>`` does around the student's functions, so running a section never hangs
silently nor ends in a traceback from another section.

- :func:`one_pass` bounds one pass of ``data_iter``: an epoch of n examples in minibatches of b is ⌈n / b⌉
  batches, so a generator that gives more never ends (a ``while True:`` around the slicing, say). The section
  stops at the first batch past the bound with :class:`SectionStopped`, which says so.
- :func:`run` runs the section's ``main``. A stub (the ``NotImplementedError`` an exercise raises until it is
  written) ends the run with one line naming the function and its file, and, when the function belongs to an
  earlier section, the command that runs that section; a :class:`SectionStopped` ends it with its message.
  Every other error keeps its traceback: it is the student's to read.

The grader never runs these scripts: it trains with its own loop (:mod:`grader.checks.trainings`).
"""

from __future__ import annotations

import math
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path


class SectionStopped(Exception):
    """A section script stopped for a reason its message gives in full (no traceback is needed)."""


def one_pass(batches: Iterable, n: int, batch_size: int, name: str = "data_iter") -> Iterator:
    """Yield ``batches`` (one pass of ``name`` over ``n`` examples in minibatches of ``batch_size``), stopping with
    :class:`SectionStopped` once it gives more than ⌈n / batch_size⌉ of them."""
    bound = math.ceil(n / batch_size)
    for count, batch in enumerate(batches, 1):
        if count > bound:
            raise SectionStopped(
                f"{name} gave more than {bound} minibatches for {n} examples in batches of {batch_size}: one pass "
                f"is {bound}, so this generator never ends. Let it stop after the last slice (a for loop over "
                "the start indices, not while True).")
        yield batch


def _stub_frame(exc: NotImplementedError, folder: Path) -> traceback.FrameSummary | None:
    """The frame that raised ``exc`` when it is a function of ``folder`` (an exercise's stub), else ``None``."""
    frames = traceback.extract_tb(exc.__traceback__)
    if frames and Path(frames[-1].filename).resolve().parent == folder:
        return frames[-1]
    return None


def unfinished(exc: NotImplementedError, main_module: str, main_file: str) -> str | None:
    """The line that tells which function of the exercises is not written yet, for a section run as
    ``python -m <main_module>`` (``exercises.mlp``) from ``main_file``; ``None`` when ``exc`` is not a stub's."""
    folder = Path(main_file).resolve().parent
    frame = _stub_frame(exc, folder)
    if frame is None:
        return None
    package, _, section = main_module.rpartition(".")
    owner = Path(frame.filename).stem
    where = f"{frame.name} ({Path(frame.filename).name}, line {frame.lineno})"
    if owner == section:
        return f"{where} is not written yet: fill it in, then run python -m {main_module} again."
    return (f"this section uses {where}, which is not written yet: finish that section first "
            f"(python -m {package + '.' if package else ''}{owner}), then run python -m {main_module} again.")


def run(main: Callable, *args) -> None:
    """Run a section's ``main(*args)`` as :mod:`this module <grader.section_script>` describes; exits with status
    1 after a stub or a stop."""
    module = sys.modules[main.__module__]
    spec = getattr(module, "__spec__", None)
    name = spec.name if spec is not None else Path(module.__file__).stem
    try:
        main(*args)
    except SectionStopped as exc:
        print(f"stopped: {exc}", file=sys.stderr)
        sys.exit(1)
    except NotImplementedError as exc:
        line = unfinished(exc, name, module.__file__)
        if line is None:
            raise
        print(line, file=sys.stderr)
        sys.exit(1)

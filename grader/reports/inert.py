"""Student text made inert: shown as the characters it is, never obeyed by a terminal, a Markdown renderer or a
spreadsheet.

Student-controlled text reaches every report: an exception message raised by the student's code (and any
message of the kit that quotes a value the code returned), a file or folder name, a student id. Each report
writer passes such text through the function of its output, at the point where it is written:

- :func:`text` for plain-text and terminal output (``grade --format text``, the pytest summary, nbgrader's
  cell outputs, Gradescope's per-test output): the control characters are removed, so no escape sequence
  clears the screen, moves the cursor or recolours a line, no carriage return overwrites one, and no bidi
  override reorders one. Its ``indent`` puts each further line of the text under the first, so a message
  cannot start a line of its own (a forged ``Score:`` line).
- :func:`markdown` for Markdown (the report ``.md``, the pull-request comment and job summary rendered from it,
  ``class_summary.md``, Gradescope's summary, ``grade diff``): one line of literal text, whatever renders it.
- :func:`code` for a name shown as code in Markdown (a check id, a function): a code span only when the name is
  plain, else :func:`markdown`.
- :func:`csv_cell` / :func:`csv_row` for every cell the kit writes into a CSV file.

The kit's own formatting (headings, tables, the bold score, terminal colours) is added around the inert text by
the writers, never taken from it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# C0 controls but tab and newline, DEL, C1 controls, and the bidi embeddings, overrides and isolates (U+202A-U+202E,
# U+2066-U+2069).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def text(s: str, indent: str | None = None) -> str:
    """``s`` without control characters: the C0 controls but ``\\n`` and ``\\t`` (so ESC, carriage return,
    backspace and NUL go), DEL, the C1 controls, and the bidi overrides U+202A-U+202E and U+2066-U+2069.

    With ``indent``, every line of ``s`` after the first starts with ``indent`` (give the indentation of the
    first), so the text stays one block under the line that introduces it."""
    out = _CONTROL.sub("", s)
    return out if indent is None else out.replace("\n", "\n" + indent)


# Markdown's special characters are all ASCII punctuation: CommonMark lets a backslash make any of them literal.
# ``<``, ``>`` and ``&`` become HTML entities instead, which every Markdown renderer shows as the characters,
# even one that does not honour a backslash before them.
_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
_PUNCTUATION = re.compile(r"[!-/:-@\[-`{-~]")


def markdown(s: str) -> str:
    """``s`` as one line of literal Markdown text, safe in a paragraph, a list item and a table cell.

    The rule: control characters are removed (:func:`text`); newlines and tabs become spaces; ``<``, ``>`` and
    ``&`` become ``&lt;``, ``&gt;`` and ``&amp;``; every other ASCII punctuation character gets a backslash in
    front. So no HTML tag or entity, emphasis, code span, link, image, heading, list, quote or table cell
    (``|``) can start inside it, and it renders as the text it was."""
    one_line = text(s).replace("\n", " ").replace("\t", " ")
    return _PUNCTUATION.sub(lambda m: _ENTITIES.get(m.group(), "\\" + m.group()), one_line)


_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def code(name: str) -> str:
    """``name`` as inline code (`` `softmax.values` ``) when it is plain (letters, digits, ``_``, ``.``, ``-``),
    as every name of the rubric is; any other name (a student's folder, a report edited by hand) as
    :func:`markdown` text."""
    return f"`{name}`" if _PLAIN_NAME.fullmatch(name) else markdown(name)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: str | int | float) -> str:
    """``value`` as a CSV cell a spreadsheet shows, never runs.

    The rule: text gets a leading ``'`` when it starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
    return (the characters that start a formula), whatever follows (``-1`` as text is written ``'-1``). A
    number (``int`` or ``float``, the kit's own points) is written as one (``f"{value:g}"``), negative or not:
    it cannot be a formula, and a spreadsheet must read it as a number."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:g}"
    cell = str(value)
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def csv_row(values: Iterable[str | int | float]) -> list[str]:
    """Each of ``values`` through :func:`csv_cell`: what every CSV writer of the kit writes."""
    return [csv_cell(v) for v in values]

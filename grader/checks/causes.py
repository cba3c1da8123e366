"""The causes the judges name, as one table: what the class view counts instead of check ids.

A judge's message reads "<what went wrong>: <cause>", and a cause reads "<diagnosis>: <remedy>" (a check that
fails for the cause an earlier one named says "same cause as <check>: <diagnosis>"). The causes are the known
mistakes of each function (:class:`~grader.checks.common.KnownMistakes`, sgd's wrong steps) and, for a hidden check
that fails while every public one holds, :data:`grader.checks.hidden.DEPENDS`. :func:`named` finds the diagnosis a
message names, so students who made one mistake are counted once for it, whichever checks it failed.
"""

from __future__ import annotations

import functools

from grader.checks import cross_entropy, hidden, l2_penalty, relu, sgd, softmax


def diagnosis(cause: str) -> str:
    """A cause's diagnosis: its text before the first ``": "`` (the remedy follows it)."""
    return cause.split(": ", 1)[0]


@functools.lru_cache(maxsize=1)
def table() -> dict[str, dict[str, str]]:
    """``{function: {diagnosis: remedy}}`` of every cause a judge may name (the remedy may be empty)."""
    found: dict[str, list[str]] = {
        "softmax": [m.cause for m in softmax.KNOWN.mistakes],
        "cross_entropy": [m.cause for m in cross_entropy.KNOWN.mistakes],
        "relu": [m.cause for m in relu.KNOWN.mistakes],
        "l2_penalty": [m.cause for m in l2_penalty.KNOWN.mistakes],
        "sgd": [cause for _, cause in sgd.WRONG_STEPS],
    }
    out: dict[str, dict[str, str]] = {}
    for function, causes in found.items():
        for cause in causes:
            head, _, remedy = cause.partition(": ")
            out.setdefault(function, {}).setdefault(head, remedy)
    return out


def named(function: str, message: str, hidden_check: bool = False) -> str:
    """The diagnosis ``message`` names among ``function``'s causes (the first in the message; of two starting
    there, the longer), or ``""``. A hidden check's message names :data:`~grader.checks.hidden.DEPENDS` when the
    function's public checks all hold; otherwise its cause is theirs, said in their own messages."""
    if hidden_check:
        return hidden.DEPENDS if hidden.DEPENDS in message else ""
    hits = [(message.find(d), -len(d), d) for d in table().get(function, {}) if d and d in message]
    return min(hits)[2] if hits else ""


def remedy(function: str, diagnosis_text: str) -> str:
    """The remedy the table gives with a diagnosis of ``function`` (``""`` when none or unknown)."""
    return table().get(function, {}).get(diagnosis_text, "")

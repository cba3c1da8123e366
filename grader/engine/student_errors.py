"""How student code failed, in one line: the exception, where in the submission it was raised, and a hint for the
common JAX traps.

Shared by everything that runs student code and reports on it (the probes, the trusted training loop, the
submission loader), so it sits below them all. The place is the deepest frame of the traceback that lies in the
submission's own files (:func:`register_submission`, called when a submission is loaded): its file relative to the
submission's folder, its line number and the statement on it, as ``(at softmax_regression.py, line 42: `...`)``.
The message is built where the exception is caught (the sandboxed child) and travels as text.
"""

from __future__ import annotations

import linecache
import re

NOT_IMPLEMENTED = "not implemented yet"  # how a failure of the exercise's stub (NotImplementedError) reads

_SUBMISSIONS: list[str] = []  # the folders of the submissions loaded in this process, each ending in "/"
_STATEMENT_CHARS = 100

# ``(at <file>, line <n>: `<statement>`)``: the statement never holds a backtick (see :func:`_statement`)
_LOCATION = re.compile(r" \(at [^()`\n]+, line \d+(?:: `[^`\n]*`)?\)")

# Hints for the common families of errors, each (test on "<name>: <text>", hint).
HINT_IMMUTABLE = ("JAX arrays cannot be changed in place (no item assignment, no np.random.shuffle of a JAX array): "
                  "build a new array, e.g. x = x.at[i].set(v), or index with a permutation, "
                  "x[jax.random.permutation(key, len(x))]")
HINT_READ_ONLY = ("the array is read-only (a NumPy view of a JAX array, or the caller's data): do not write into it; "
                  "build a new array or index with a permutation, x[jax.random.permutation(key, len(x))]")
HINT_BROADCAST = ("the shapes do not broadcast: a reduction such as jnp.max(X, axis=-1) or jnp.sum(X, axis=-1) "
                  "drops its axis, so an (n,) result does not line up with the (n, k) rows; keep it with keepdims=True")
HINT_PYTREE = ("arithmetic on a whole dict, list or tuple of arrays: params and grads are pytrees, so update every "
               "leaf with jax.tree.map(lambda p, g: p - lr * g / batch_size, params, grads)")
HINT_TRACER = ("under jax.jit (and jax.grad) the arrays are traced values, not numbers: float(), int(), .item(), "
               "np.asarray() or a Python `if` on one fails; keep the computation in jax.numpy (jnp.where instead of "
               "`if`)")


def register_submission(directory: str) -> None:
    """Count the files under ``directory`` as the submission's: errors raised there are located in them."""
    folder = str(directory).rstrip("/") + "/"
    if folder not in _SUBMISSIONS:
        _SUBMISSIONS.append(folder)


def _relative(filename: str) -> str | None:
    for folder in _SUBMISSIONS:
        if filename.startswith(folder):
            return filename[len(folder):]
    return None


def _statement(filename: str, lineno: int) -> str:
    """The source line, stripped and shortened, without backticks (they delimit it in the message)."""
    try:
        line = linecache.getline(filename, lineno).strip()
    except Exception:  # an unreadable file: the place without the statement
        return ""
    line = line.replace("`", "'")
    return line if len(line) <= _STATEMENT_CHARS else line[:_STATEMENT_CHARS - 3] + "..."


def location(exc: BaseException) -> str:
    """``softmax_regression.py, line 42: `return ...``` for the deepest frame of ``exc``'s traceback in the
    submission's files, or ``""`` when none is."""
    found = None
    tb, seen = exc.__traceback__, 0
    while tb is not None and seen < 1000:
        name = _relative(tb.tb_frame.f_code.co_filename)
        if name is not None:
            found = (name, tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        tb, seen = tb.tb_next, seen + 1
    if found is None:
        return ""
    name, filename, lineno = found
    statement = _statement(filename, lineno)
    return f"{name}, line {lineno}" + (f": `{statement}`" if statement else "")


def hint(name: str, text: str) -> str:
    """The hint for an exception's family (its type's name and first line), or ``""``."""
    both = f"{name}: {text}"
    if name == "TypeError" and (re.search(r"unsupported operand type\(s\) for .*'(dict|list|tuple)'", both)
                                or "can't multiply sequence" in text):
        return HINT_PYTREE
    if "Tracer" in name or "Tracer" in text or "ConcretizationTypeError" in name:
        return HINT_TRACER
    if "immutable" in text and "assignment" in text:
        return HINT_IMMUTABLE
    if "read-only" in text:
        return HINT_READ_ONLY
    if "broadcast" in text.lower():
        return HINT_BROADCAST
    return ""


def describe_exception(exc: BaseException) -> str:
    """A one-line account of an exception raised by student code: where in the submission it was raised, and a
    hint for the common JAX traps."""
    if isinstance(exc, NotImplementedError):
        text = str(exc).strip()
        return f"{NOT_IMPLEMENTED} — the exercise's hint: {text}" if text else NOT_IMPLEMENTED
    if isinstance(exc, SystemExit):
        return f"SystemExit (the code called exit({exc.code!r}))"
    name = type(exc).__name__
    try:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    except Exception:  # an exception whose __str__ fails
        text = ""
    text = re.sub(r":? https?://\S+", "", text)  # a link to the docs (JAX's) says nothing in a one-line account
    if len(text) > 240:
        text = text[:237] + "..."
    line = f"{name}: {text}" if text else name
    try:
        where = location(exc)
    except Exception:  # never let the account of a failure fail
        where = ""
    if where:
        line += f" (at {where})"
    found = hint(name, text)
    if found:
        line += f" ({found})"
    return line


def without_location(message: str) -> str:
    """``message`` without the place in the submission :func:`describe_exception` names, to compare two failures
    by what they are (a known mistake, run by the kit, raises the same error from another file)."""
    return _LOCATION.sub("", message)


def failure_text(what: str, exc: BaseException) -> str:
    """``<what>: not implemented yet …`` or ``<what> raised <exception>``."""
    reason = describe_exception(exc)
    return f"{what}: {reason}" if reason.startswith(NOT_IMPLEMENTED) else f"{what} raised {reason}"


def is_stub_failure(message: str) -> bool:
    """Whether a failure's message is the exercise's stub's (``<what>: not implemented yet …``, as
    :func:`failure_text` writes it), not another error whose text merely says so (``<what> raised …``)."""
    stub, raised = message.find(f": {NOT_IMPLEMENTED}"), message.find(" raised ")
    return stub >= 0 and (raised < 0 or stub < raised)

"""How student code failed, in one line: the exception, with a hint for the common JAX traps.

Shared by everything that runs student code and reports on it (the probes, the trusted training loop, the
submission loader), so it sits below them all.
"""

from __future__ import annotations

NOT_IMPLEMENTED = "not implemented yet"  # how a failure of the exercise's stub (NotImplementedError) reads


def describe_exception(exc: BaseException) -> str:
    """A one-line account of an exception raised by student code, with a hint for the common JAX traps."""
    if isinstance(exc, NotImplementedError):
        hint = str(exc).strip()
        return f"{NOT_IMPLEMENTED} — the exercise's hint: {hint}" if hint else NOT_IMPLEMENTED
    if isinstance(exc, SystemExit):
        return f"SystemExit (the code called exit({exc.code!r}))"
    name = type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if len(text) > 240:
        text = text[:237] + "..."
    line = f"{name}: {text}" if text else name
    if "Tracer" in name or "Tracer" in text or "ConcretizationTypeError" in name:
        line += (" (JAX could not trace the code: use jax.numpy instead of NumPy or Python floats, and avoid"
                 " Python `if` on array values)")
    return line


def failure_text(what: str, exc: BaseException) -> str:
    """``<what>: not implemented yet …`` or ``<what> raised <exception>``."""
    reason = describe_exception(exc)
    return f"{what}: {reason}" if reason.startswith(NOT_IMPLEMENTED) else f"{what} raised {reason}"


def is_stub_failure(message: str) -> bool:
    """Whether a failure's message is the exercise's stub's (``<what>: not implemented yet …``, as
    :func:`failure_text` writes it), not another error whose text merely says so (``<what> raised …``)."""
    stub, raised = message.find(f": {NOT_IMPLEMENTED}"), message.find(" raised ")
    return stub >= 0 and (raised < 0 or stub < raised)

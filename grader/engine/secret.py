"""The instructor's secret, and the seeds of each student's hidden probes derived from it.

seed(probe, student) = the first 4 bytes of HMAC-SHA256(secret, "<probe>\\0<student>"), as an integer below 2³¹.

The same secret and id give the same seeds, so the same score, on every run and machine; another id gives other
inputs; and without the secret nobody (a student who knows every public input and this code included) can
compute a seed. The secret comes from a file (``--secret-file``) or the environment variable
``DL_BASICS_SECRET``; it is never sent to the sandboxed child (only the seeds are), never written into a report
(only :func:`Secret.fingerprint`, a hash of it), and refused when it lies where a child can read it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from grader.errors import SecretError

ENV = "DL_BASICS_SECRET"
MIN_BYTES = 16


class Secret:
    def __init__(self, key: bytes):
        if len(key) < MIN_BYTES:
            raise SecretError(f"the secret is {len(key)} bytes long; use at least {MIN_BYTES} random bytes "
                              "(for example: python -c \"import secrets; print(secrets.token_hex(32))\" > secret)")
        self._key = key

    @classmethod
    def from_file(cls, path: str | Path) -> "Secret":
        try:
            return cls(Path(path).read_bytes().strip())
        except OSError as exc:
            raise SecretError(f"cannot read the secret file {path}: {exc.strerror or exc}") from None

    @classmethod
    def find(cls, path: str | Path | None = None) -> "Secret | None":
        """The secret of ``path`` when given, else of ``$DL_BASICS_SECRET``, else ``None`` (hidden checks not run)."""
        if path is not None:
            return cls.from_file(path)
        value = os.environ.get(ENV, "").strip()
        return cls(value.encode()) if value else None

    def fingerprint(self) -> str:
        """Which secret graded a report, without revealing it: the first 16 hex digits of
        SHA-256("fingerprint" ‖ key)."""
        return hashlib.sha256(b"dl-basics-grader fingerprint\0" + self._key).hexdigest()[:16]

    def seed(self, probe: str, student: str) -> int:
        digest = hmac.new(self._key, f"{probe}\0{student}".encode(), hashlib.sha256).digest()
        return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF

    def seeds(self, student: str, probes) -> dict[str, int]:
        """The seed of each of ``probes`` (hidden probes) for ``student``."""
        return {p: self.seed(p, student) for p in probes}

    def __repr__(self) -> str:  # never the key itself, in a traceback or a log
        return f"Secret(fingerprint={self.fingerprint()})"


def refuse_readable_by_children(path: str | Path | None, submission: str | Path) -> None:
    """Refuse a secret file that a sandboxed child could read: inside the submission, under a folder every
    child may read (the Python installation and the system's libraries: :func:`grader.engine.confine.python_roots`,
    :data:`grader.engine.confine.SYSTEM_READ`), or, where Landlock is missing, readable by every user."""
    if path is None:
        return
    from grader.engine import confine
    resolved = Path(path).resolve()
    for root in [Path(submission).resolve(),
                 *(Path(r).resolve() for r in (*confine.python_roots(), *confine.SYSTEM_READ))]:
        if resolved == root or root in resolved.parents:
            raise SecretError(f"the secret file {path} lies inside {root}, which the graded code can read: keep it "
                              "outside the submission, the Python installation and the system's folders")
    if not confine.available().landlock_abi and confine.open_to_others(resolved):
        raise SecretError(f"the secret file {path} is readable by every user, and without Landlock so is it by the "
                          f"graded code: chmod 600 {path}")

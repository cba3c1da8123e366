"""When the hidden probes' seeds may leave the parent: only once every lane of the submission has the results of
all its public probes."""

from __future__ import annotations

import threading


class SeedGate:
    """When the hidden probes' seeds may leave the parent: once every lane of the submission has the results of all
    its public probes (a lane says so when its child asks for the seeds, or when it ends). The children of one
    submission run side by side as one user and, where no Landlock rule stops them, can read each other's files:
    no child's code may meet a public input while another child's code can know a hidden one."""

    def __init__(self, lanes: int):
        self._waiting = set(range(lanes))
        self._lock = threading.Lock()
        self._open = threading.Event()

    def public_done(self, lane: int) -> None:
        with self._lock:
            self._waiting.discard(lane)
            if not self._waiting:
                self._open.set()

    def wait(self) -> None:
        self._open.wait()

    @property
    def open(self) -> bool:
        """Whether seeds may be out: what a child's code does from now on may depend on a hidden input."""
        return self._open.is_set()

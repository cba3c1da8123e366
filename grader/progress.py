"""Progress on stderr for the ``grade`` commands."""

from __future__ import annotations

import sys
import time


class Progress:
    """Progress on stderr: one updating line on a terminal, plain lines otherwise, nothing when quiet."""

    def __init__(self, enabled: bool, stream=sys.stderr):
        self.enabled, self.stream = enabled, stream
        self.tty = enabled and stream.isatty()
        self.start = time.monotonic()

    def show(self, text: str) -> None:
        if not self.enabled:
            return
        line = f"[{time.monotonic() - self.start:5.1f}s] {text}"
        if self.tty:
            self.stream.write("\r\033[K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.tty:
            self.stream.write("\r\033[K")
            self.stream.flush()

"""Progress on stderr for the ``grade`` commands."""

from __future__ import annotations

import sys
import time

from grader.reports import inert


class Progress:
    """Progress on stderr: one updating line on a terminal, plain lines otherwise, nothing when quiet. A line may
    name a student's folder: it is written on one line, without control characters (:func:`inert.text`)."""

    def __init__(self, enabled: bool, stream=sys.stderr):
        self.enabled, self.stream = enabled, stream
        self.tty = enabled and stream.isatty()
        self.start = time.monotonic()

    def show(self, text: str) -> None:
        if not self.enabled:
            return
        line = f"[{time.monotonic() - self.start:5.1f}s] {inert.text(text).replace(chr(10), ' ')}"
        if self.tty:
            self.stream.write("\r\033[K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.tty:
            self.stream.write("\r\033[K")
            self.stream.flush()

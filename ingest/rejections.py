"""Rate-limited WARNING lines for rejected requests.

A flood of bad requests (a misconfigured webhook secret, a scanner) would otherwise fill
the log, so at most ``per_second`` lines are written in each one-second window and the
number of suppressed lines is reported when the next window opens. The path and the
reason may hold client input, so their non-printable characters are written as
backslash escapes, and a client cannot start a new line in the log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

logger = logging.getLogger("ingest.rejections")


def printable(text: str) -> str:
    """Return ``text`` with each non-printable character replaced by its repr escape."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


class RejectionLog:
    """Log one WARNING line per rejected request, at most ``per_second`` a second."""

    def __init__(self, per_second: int = 20, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_second = per_second
        self._clock = clock
        self._window_start = clock()
        self._written = 0
        self._suppressed = 0

    def record(self, method: str, path: str, status: int, reason: str, request_id: str) -> None:
        """Log a rejection; the reason must never contain a body, token or secret."""
        self._roll_window()
        if self._written >= self.per_second:
            self._suppressed += 1
            return
        self._written += 1
        logger.warning(
            "rejected %s %s with %d: %s (request %s)",
            printable(method),
            printable(path),
            status,
            printable(reason),
            request_id,
        )

    def _roll_window(self) -> None:
        now = self._clock()
        if now - self._window_start < 1.0:
            return
        if self._suppressed:
            logger.warning(
                "suppressed %d rejected-request warnings in the last window", self._suppressed
            )
        self._window_start = now
        self._written = 0
        self._suppressed = 0

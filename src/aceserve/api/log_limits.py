"""Rate-limited logging for messages a flood of bad clients could repeat without end.

Under file-descriptor exhaustion or a storm of malformed requests, the server's own loggers
(``asyncio``: "socket.accept() out of system resource", ``uvicorn.error``: "Invalid HTTP request
received.", "Too many open files") can write megabytes a second. ``RepeatLimit`` lets each distinct
message through ``burst`` times per ``window`` seconds, then drops it and says once, when the window
ends, how many were dropped.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Final

FLOODING_LOGGERS: Final = ("asyncio", "uvicorn.error")


class RepeatLimit(logging.Filter):
    """A logging filter: at most ``burst`` records per message template per ``window`` seconds."""

    def __init__(self, *, burst: int = 5, window: float = 60.0) -> None:
        super().__init__()
        self.burst = burst
        self.window = window
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        now = time.monotonic()
        with self._lock:
            started, count = self._seen.get(key, (now, 0))
            if now - started >= self.window:
                if count > self.burst:
                    record.msg = f"{record.msg} [and {count - self.burst} more like it in the last {self.window:g} s]"
                started, count = now, 0
            count += 1
            self._seen[key] = (started, count)
            if len(self._seen) > 10_000:  # templates, not values: this stays small unless misused
                self._seen.clear()
        return count <= self.burst


def limit_repeats(*, burst: int = 5, window: float = 60.0) -> RepeatLimit:
    """Install one ``RepeatLimit`` on the loggers a flood can reach; returns it (tests read it)."""
    limit = RepeatLimit(burst=burst, window=window)
    for name in FLOODING_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RepeatLimit) for existing in logger.filters):
            logger.addFilter(limit)
    return limit

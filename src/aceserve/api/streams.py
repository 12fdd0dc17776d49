"""Open task event streams per API key, capped: a client that opens more than it needs gets a clear 429
instead of holding connections and database reads without bound. Counted per API process."""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from aceserve.domain.errors import TooManyRequests


class OpenStreams:
    def __init__(self, max_per_key: int) -> None:
        self.max_per_key = max_per_key
        self._open: Counter[str] = Counter()
        self._lock = threading.Lock()

    def open(self, key: str) -> None:
        """Count a new stream for ``key``, or raise 429 when it already holds the most allowed."""
        name = hashlib.sha256(key.encode()).hexdigest()  # never keep the key itself
        with self._lock:
            if self._open[name] >= self.max_per_key:
                raise TooManyRequests(
                    f"This API key already has {self._open[name]} open task event streams, the most allowed "
                    f"({self.max_per_key}); close one (or poll GET /api/v1/task/{{task_id}}) and retry.",
                    retry_after=5,
                )
            self._open[name] += 1

    def close(self, key: str) -> None:
        name = hashlib.sha256(key.encode()).hexdigest()
        with self._lock:
            self._open[name] -= 1
            if self._open[name] <= 0:
                del self._open[name]

    @contextmanager
    def held(self, key: str) -> Iterator[None]:
        self.open(key)
        try:
            yield
        finally:
            self.close(key)

    def count(self, key: str) -> int:
        with self._lock:
            return self._open[hashlib.sha256(key.encode()).hexdigest()]

"""Optional per-key request rate limit (token bucket per API process), answered with 429."""

from __future__ import annotations

import math
import threading
import time

from aceserve.domain.errors import TooManyRequests


class RateLimiter:
    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._buckets: dict[str, tuple[float, float]] = {}  # key digest -> (tokens, last refill)
        self._lock = threading.Lock()

    def check(self, key_hash: str) -> None:
        """Take a token for the key with this hash, or raise ``TooManyRequests``."""
        if self.per_minute <= 0:
            return
        digest = key_hash[:16]
        rate = self.per_minute / 60.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(digest, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - last) * rate)
            if tokens < 1.0:
                self._buckets[digest] = (tokens, now)
                wait = math.ceil((1.0 - tokens) / rate)
                raise TooManyRequests(
                    f"Rate limit of {self.per_minute} requests per minute for this key exceeded; retry in {wait} s.",
                    retry_after=wait,
                )
            self._buckets[digest] = (tokens - 1.0, now)

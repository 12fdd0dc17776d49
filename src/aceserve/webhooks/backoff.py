"""When to try a failed delivery again: exponential backoff with full jitter inside a retry window.

Pure functions of their arguments (the random source and the clock are passed in) so the policy is
tested without sleeping.

Why full jitter (a uniform wait between 0 and the exponential bound): after an outage every
receiver's backlog would otherwise come back in synchronized waves; spreading each wait over the
whole interval de-correlates them (AWS architecture blog, "Exponential Backoff And Jitter").

Why two windows: a terminal event (``completed``/``failed``) is the one a client needs, so it is
retried for ``terminal_window`` (26 h by default, above the contract's 24 h). A non-terminal event
(``pending``/``processing``) is stale as soon as the task moves on, so it is retried only for
``nonterminal_window`` (10 min); after that the terminal event carries the full state anyway.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

# 2**60 seconds is far beyond any cap; clamping the exponent keeps the float math finite.
_MAX_EXPONENT = 60


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff bounds and retry windows. Defaults: 5 s doubling, at most 1 h per wait."""

    base_seconds: float = 5.0
    cap_seconds: float = 3600.0
    terminal_window: timedelta = timedelta(hours=26)
    nonterminal_window: timedelta = timedelta(minutes=10)

    def __post_init__(self) -> None:
        if self.base_seconds <= 0 or self.cap_seconds < self.base_seconds:
            raise ValueError(
                f"RetryPolicy needs 0 < base_seconds <= cap_seconds, got {self.base_seconds}, {self.cap_seconds}"
            )

    def window(self, *, terminal: bool) -> timedelta:
        return self.terminal_window if terminal else self.nonterminal_window


def backoff_delay(
    attempt: int, *, base_seconds: float, cap_seconds: float, rand: Callable[[], float] = random.random
) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based): uniform in
    ``[0, min(cap, base * 2**(attempt - 1)))`` ("full jitter")."""
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, got {attempt}")
    bound = min(cap_seconds, base_seconds * 2.0 ** min(attempt - 1, _MAX_EXPONENT))
    return bound * rand()


def next_attempt_at(
    policy: RetryPolicy,
    *,
    attempt: int,
    created_at: datetime,
    now: datetime,
    terminal: bool,
    rand: Callable[[], float] = random.random,
) -> datetime | None:
    """When to retry after failed attempt ``attempt``, or None when the retry window is over.

    The window runs from the event's creation. A wait that would cross the window's end is cut to
    land exactly on it, so the last attempt happens at the end of the window (retries really do span
    the whole window), and the first failure at or after the end gives up.
    """
    deadline = created_at + policy.window(terminal=terminal)
    if now >= deadline:
        return None
    delay = backoff_delay(attempt, base_seconds=policy.base_seconds, cap_seconds=policy.cap_seconds, rand=rand)
    return min(now + timedelta(seconds=delay), deadline)

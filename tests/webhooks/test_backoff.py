"""The retry policy as pure functions: bounds, jitter, cap, and the retry window."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from aceserve.webhooks.backoff import RetryPolicy, backoff_delay, next_attempt_at

T0 = datetime(2026, 11, 21, 5, 0, tzinfo=UTC)


@pytest.mark.parametrize(("attempt", "bound"), [(1, 5.0), (2, 10.0), (3, 20.0), (10, 2560.0), (11, 3600.0)])
def test_delay_bound_doubles_from_base_until_the_cap(attempt: int, bound: float) -> None:
    assert backoff_delay(attempt, base_seconds=5, cap_seconds=3600, rand=lambda: 0.0) == 0.0
    assert backoff_delay(attempt, base_seconds=5, cap_seconds=3600, rand=lambda: 1.0) == pytest.approx(bound)


def test_delay_is_capped_for_huge_attempt_numbers_without_overflow() -> None:
    assert backoff_delay(10_000, base_seconds=5, cap_seconds=3600, rand=lambda: 0.5) == pytest.approx(1800.0)


def test_full_jitter_spreads_delays_over_the_whole_interval() -> None:
    rng = random.Random(7)
    samples = [backoff_delay(4, base_seconds=5, cap_seconds=3600, rand=rng.random) for _ in range(2000)]
    assert all(0.0 <= s < 40.0 for s in samples)
    assert min(samples) < 2.0 and max(samples) > 38.0
    assert 17.0 < sum(samples) / len(samples) < 23.0  # uniform on [0, 40): mean 20


def test_attempt_numbers_start_at_one() -> None:
    with pytest.raises(ValueError, match="attempt"):
        backoff_delay(0, base_seconds=5, cap_seconds=3600)


def test_policy_rejects_a_cap_below_the_base() -> None:
    with pytest.raises(ValueError, match="base_seconds"):
        RetryPolicy(base_seconds=10, cap_seconds=1)


def test_next_attempt_is_now_plus_the_jittered_delay() -> None:
    policy = RetryPolicy()
    now = T0 + timedelta(minutes=1)
    at = next_attempt_at(policy, attempt=3, created_at=T0, now=now, terminal=True, rand=lambda: 0.5)
    assert at == now + timedelta(seconds=10)


def test_terminal_events_are_retried_across_the_whole_window_then_given_up() -> None:
    """Simulate failures back to back: retries keep going past the contract's 24 h, the last one
    lands exactly on the 26 h window's end, and no wait exceeds the 1 h cap."""
    policy = RetryPolicy()
    rng = random.Random(3)
    now, attempt, times = T0, 1, [T0]
    while at := next_attempt_at(policy, attempt=attempt, created_at=T0, now=now, terminal=True, rand=rng.random):
        assert at - now <= timedelta(hours=1)
        times.append(at)
        now, attempt = at, attempt + 1
    assert times[-1] == T0 + timedelta(hours=26)
    assert times[-1] - T0 >= timedelta(hours=24)
    assert 20 < len(times) < 200
    assert next_attempt_at(policy, attempt=attempt, created_at=T0, now=times[-1], terminal=True) is None


def test_non_terminal_events_get_the_short_window() -> None:
    policy = RetryPolicy()
    late = T0 + timedelta(minutes=10)
    assert next_attempt_at(policy, attempt=2, created_at=T0, now=late, terminal=False) is None
    assert next_attempt_at(policy, attempt=2, created_at=T0, now=late, terminal=True) is not None
    almost = T0 + timedelta(minutes=9, seconds=59)
    at = next_attempt_at(policy, attempt=9, created_at=T0, now=almost, terminal=False, rand=lambda: 1.0)
    assert at == T0 + timedelta(minutes=10)  # cut to the window's end

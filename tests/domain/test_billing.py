"""Price, units and the estimate frozen at create (spec §7): 10 s of audio cost 5000 units of 1e-6 USD."""

from __future__ import annotations

from typing import Any

import pytest

from aceserve.domain import billing

from .helpers import body, parse

PRICE = 0.0005


def test_ten_seconds_consume_5000_units_at_the_default_price() -> None:
    assert billing.units_per_second(PRICE) == 500
    assert billing.consume_units(10, PRICE, frozen=10**9) == 5000
    assert billing.usd_to_units(1) == 1_000_000 and billing.units_to_usd(5000) == 0.005


def test_freeze_covers_whole_seconds_and_consumption_never_exceeds_it() -> None:
    assert billing.freeze_units(12.3, PRICE) == 13 * 500
    assert billing.freeze_units(12.0, PRICE) == 12 * 500
    assert billing.consume_units(12.3, PRICE, frozen=6500) == 6150
    assert billing.consume_units(13.5, PRICE, frozen=6500) == 6500


@pytest.mark.parametrize(
    ("task_type", "fields", "input_seconds", "seconds", "exact"),
    [
        ("txt2audio", {}, None, 30.0, True),
        ("txt2audio", {"duration": 75}, None, 75.0, True),
        ("txt2audio", {"duration": 5}, None, 5.0, True),
        ("audio2audio", {"duration": 40}, None, 40.0, True),
        ("audio2audio", {}, 12.0, 12.0, True),
        ("audio2audio", {}, None, billing.URL_AUDIO_ESTIMATE_SECONDS, False),
        ("edit", {}, 61.5, 61.5, True),
        ("edit", {}, None, billing.URL_AUDIO_ESTIMATE_SECONDS, False),
        ("extend", {"left_extend_duration": 10, "right_extend_duration": 20}, 12.0, 42.0, True),
        ("extend", {"right_extend_duration": 20}, None, billing.URL_AUDIO_ESTIMATE_SECONDS + 20, False),
        ("extend", {"right_extend_duration": 100}, 590.0, 600.0, True),
    ],
)
def test_the_estimate_is_the_output_length_as_far_as_it_is_known(
    task_type: str, fields: dict[str, Any], input_seconds: float | None, seconds: float, exact: bool
) -> None:
    estimate = billing.estimate(parse(body(task_type, **fields)).input, input_seconds)
    assert (estimate.seconds, estimate.exact) == (seconds, exact)


def test_the_estimate_says_what_it_is_for() -> None:
    known = billing.estimate(parse(body("audio2audio")).input, 12.0).describe(PRICE)
    assert (
        known == "$0.0060 for 12 s of audio at $0.0005/s (the output is as long as `input.style_audio`, "
        "which is 12.0 s long)"
    )
    guessed = billing.estimate(parse(body("edit")).input, None).describe(PRICE)
    assert "`input.audio` is a URL" in guessed and "estimated at 30 s" in guessed

"""Numeric input fields: durations, unit-interval strengths, extend lengths and the [ext] fields."""

from __future__ import annotations

import math
from typing import Any

import pytest

from .helpers import assert_invalid, body, parse

TASK_TYPES = ["txt2audio", "audio2audio", "edit", "extend"]


# --- numbers -------------------------------------------------------------------------------------


@pytest.mark.parametrize("duration", [1, 5, 10, 600, 1.0, 10.0, 599.5, 30.25])
def test_txt2audio_duration_in_range_is_echoed_as_given(duration: float) -> None:
    echoed = parse(body(duration=duration)).echo["duration"]
    assert echoed == duration
    assert type(echoed) is type(duration)


@pytest.mark.parametrize(
    ("duration", "fragment"),
    [
        (0, "must be between 1 and 600 seconds; got 0"),
        (0.99, "got 0.99"),
        (601, "got 601"),
        (700, "must be between 1 and 600 seconds; got 700"),
        (-30, "got -30"),
        ("30", 'must be a number; got "30"'),
        ("abc", 'must be a number; got "abc"'),
        (True, "must be a number; got true"),
        ([30], "must be a number; got an array"),
        (math.nan, "must be a finite number; got NaN"),
        (math.inf, "must be a finite number; got Infinity"),
    ],
)
def test_txt2audio_duration_must_be_a_number_from_1_to_600(duration: object, fragment: str) -> None:
    assert_invalid(body(duration=duration), "input.duration", fragment)


def test_audio2audio_duration_is_optional_and_not_defaulted() -> None:
    assert "duration" not in parse(body("audio2audio")).echo
    assert parse(body("audio2audio", duration=5)).echo["duration"] == 5


@pytest.mark.parametrize(("duration", "ok"), [(1, True), (600, True), (0.5, False), (601, False), ("5", False)])
def test_audio2audio_duration_when_given_is_1_to_600(duration: object, ok: bool) -> None:
    if ok:
        assert parse(body("audio2audio", duration=duration)).echo["duration"] == duration
    else:
        assert_invalid(body("audio2audio", duration=duration), "input.duration", "must be")


@pytest.mark.parametrize(
    ("task_type", "name"),
    [("audio2audio", "audio_cover_strength"), ("edit", "edit_n_min"), ("edit", "edit_n_max")],
)
@pytest.mark.parametrize("value", [-0.01, 1.01, "1"])
def test_unit_interval_fields_refuse_what_is_not_0_to_1(task_type: str, name: str, value: object) -> None:
    assert_invalid(body(task_type, **{name: value}), f"input.{name}", "must be")


@pytest.mark.parametrize("value", [0, 1, 0.5])
def test_cover_strength_takes_0_to_1(value: float) -> None:
    assert parse(body("audio2audio", audio_cover_strength=value)).echo["audio_cover_strength"] == value


@pytest.mark.parametrize(("n_min", "n_max"), [(0, 1), (0, 0.5), (0.5, 1), (0.2, 0.4)])
def test_edit_window_takes_fractions_from_0_to_1(n_min: float, n_max: float) -> None:
    echo = parse(body("edit", edit_n_min=n_min, edit_n_max=n_max)).echo
    assert (echo["edit_n_min"], echo["edit_n_max"]) == (n_min, n_max)


def test_edit_window_is_checked_with_the_default_of_the_end_not_given() -> None:
    assert_invalid(
        body("edit", edit_n_max=0.5),
        "input.edit_n_min",
        "must be less than `input.edit_n_max`; got 0.6 and 0.5 (`input.edit_n_min` was not given: its default)",
    )


@pytest.mark.parametrize(("n_min", "n_max"), [(0.5, 0.5), (0.9, 0.1), (1, 0)])
def test_edit_n_min_must_be_below_edit_n_max(n_min: float, n_max: float) -> None:
    assert_invalid(
        body("edit", edit_n_min=n_min, edit_n_max=n_max), "input.edit_n_min", "must be less than `input.edit_n_max`"
    )


def test_edit_n_bounds_are_optional_and_echoed_only_when_given() -> None:
    command = parse(body("edit", edit_n_min=0.2))
    assert command.echo["edit_n_min"] == 0.2
    assert "edit_n_max" not in command.echo


@pytest.mark.parametrize(("left", "right"), [(0, 30), (10, 0), (0.5, 0), (300, 300), (0, 600)])
def test_extend_durations_in_range_are_accepted(left: float, right: float) -> None:
    command = parse(body("extend", left_extend_duration=left, right_extend_duration=right))
    assert (command.echo["left_extend_duration"], command.echo["right_extend_duration"]) == (left, right)


@pytest.mark.parametrize(
    ("fields", "field", "fragment"),
    [
        ({"left_extend_duration": -1}, "input.left_extend_duration", "must be between 0 and 600 seconds; got -1"),
        ({"right_extend_duration": -0.5}, "input.right_extend_duration", "got -0.5"),
        ({"right_extend_duration": 601}, "input.right_extend_duration", "got 601"),
        ({"left_extend_duration": "5"}, "input.left_extend_duration", "must be a number"),
        ({"right_extend_length": False}, "input.right_extend_duration", "must be a number; got false"),
        (
            {"left_extend_duration": 0, "right_extend_duration": 0},
            "input.left_extend_duration",
            "plus `input.right_extend_duration` must be more than 0 seconds; got 0 + 0",
        ),
        (
            {"left_extend_duration": 300, "right_extend_duration": 300.5},
            "input.left_extend_duration",
            "plus `input.right_extend_duration` must be at most 600 seconds; got 300 + 300.5",
        ),
        ({"left_extend_duration": 580}, "input.left_extend_duration", "at most 600 seconds; got 580 + 30"),
    ],
)
def test_extend_durations_are_checked(fields: dict[str, Any], field: str, fragment: str) -> None:
    assert_invalid(body("extend", **fields), field, fragment)


# --- extension fields ----------------------------------------------------------------------------


@pytest.mark.parametrize("task_type", TASK_TYPES)
@pytest.mark.parametrize(
    ("name", "value", "echoed"),
    [
        ("seed", 0, 0),
        ("seed", 2**63 - 1, 2**63 - 1),
        ("infer_steps", 1, 1),
        ("infer_steps", 200, 200),
        ("guidance_scale", 0, 0),
        ("guidance_scale", 30, 30),
        ("guidance_scale", 7.5, 7.5),
        ("output_format", "mp3", "mp3"),
        ("output_format", "WAV", "wav"),
        ("output_format", "Flac", "flac"),
    ],
)
def test_extension_fields_are_echoed_when_given(task_type: str, name: str, value: object, echoed: object) -> None:
    command = parse(body(task_type, **{name: value}))
    assert command.echo[name] == echoed


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_extension_fields_are_not_echoed_when_absent(task_type: str) -> None:
    command = parse(body(task_type))
    assert not {"seed", "infer_steps", "guidance_scale", "output_format"} & set(command.echo)
    assert command.output_format == "mp3"
    assert command.seed is None


@pytest.mark.parametrize(("name", "value"), [("seed", 7.0), ("infer_steps", 8.0)])
def test_integer_fields_take_a_whole_float_as_json_schema_does(name: str, value: float) -> None:
    echoed = parse(body(**{name: value})).echo[name]
    assert echoed == value and type(echoed) is int


def test_command_exposes_effective_output_format_and_seed() -> None:
    command = parse(body(output_format="FLAC", seed=123))
    assert command.output_format == "flac"
    assert command.seed == 123


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("seed", -1, "must be between 0 and 9223372036854775807; got -1"),
        ("seed", 2**63, "got 9223372036854775808"),
        ("seed", 1.5, "must be an integer; got 1.5"),
        ("seed", "42", 'must be an integer; got "42"'),
        ("seed", True, "must be an integer; got true"),
        ("infer_steps", 0, "must be between 1 and 200; got 0"),
        ("infer_steps", 201, "got 201"),
        ("infer_steps", 8.5, "must be an integer"),
        ("infer_steps", False, "must be an integer; got false"),
        ("guidance_scale", -0.1, "must be between 0 and 30; got -0.1"),
        ("guidance_scale", 30.5, "got 30.5"),
        ("guidance_scale", "7", "must be a number"),
        ("guidance_scale", math.nan, "must be a finite number"),
        ("output_format", "ogg", 'must be one of "mp3", "wav", "flac"; got "ogg"'),
        ("output_format", " mp3", "must be one of"),
        ("output_format", 3, "got 3"),
    ],
)
def test_extension_field_rules(name: str, value: object, fragment: str) -> None:
    assert_invalid(body(**{name: value}), f"input.{name}", fragment)

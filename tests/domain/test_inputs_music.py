"""Musical metadata and planner inputs ([ext]): ACE-Step 1.5's value sets, a 400 naming field and rule."""

from __future__ import annotations

import re

import pytest

from aceserve.domain.music import KEY_SCALE_PATTERN, KEY_SCALES, VOCAL_LANGUAGE_PATTERN, VOCAL_LANGUAGES
from tests.domain.helpers import assert_invalid, body, parse

TASK_TYPES = ["txt2audio", "audio2audio", "edit", "extend"]


def test_the_value_sets_are_ace_steps() -> None:
    assert len(KEY_SCALES) == 70 and {"C major", "F# minor", "B♭ major", "Eb minor"} <= set(KEY_SCALES)
    assert all(re.fullmatch(KEY_SCALE_PATTERN, key) for key in KEY_SCALES)
    assert len(VOCAL_LANGUAGES) == 51 and VOCAL_LANGUAGES[-1] == "unknown"
    assert all(re.fullmatch(VOCAL_LANGUAGE_PATTERN, language) for language in VOCAL_LANGUAGES)


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_metadata_on_every_task_type_is_echoed_when_given(task_type: str) -> None:
    metas = {"bpm": 128, "key_scale": "B♭ major", "time_signature": 6, "vocal_language": "yue"}
    echo = parse(body(task_type, **metas)).input.echo()
    assert {name: echo[name] for name in metas} == metas
    assert not set(metas) & set(parse(body(task_type)).input.echo())


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("bpm", 29, "`input.bpm` must be between 30 and 300; got 29"),
        ("bpm", 120.5, "`input.bpm` must be an integer; got 120.5"),
        ("key_scale", "c major", "`input.key_scale` must be a key: a note A–G, optionally #, b, ♯ or ♭"),
        ("key_scale", "H minor", 'then major or minor (e.g. "F# minor"); got "H minor"'),
        ("time_signature", 5, "`input.time_signature` must be one of 2, 3, 4, 6; got 5"),
        ("time_signature", "4", '`input.time_signature` must be one of 2, 3, 4, 6; got "4"'),
        ("vocal_language", "english", "`input.vocal_language` must be one of ACE-Step 1.5's vocal languages: ar,"),
        ("thinking", "yes", '`input.thinking` must be true or false; got "yes"'),
        ("lm_temperature", 2.5, "`input.lm_temperature` must be between 0 and 2; got 2.5"),
        ("lm_cfg_scale", 0.5, "`input.lm_cfg_scale` must be between 1 and 10; got 0.5"),
        ("lm_top_p", 1.5, "`input.lm_top_p` must be between 0 and 1; got 1.5"),
        ("lm_top_k", -1, "`input.lm_top_k` must be between 0 and 1000; got -1"),
        ("description", "  ", "`input.description`"),
    ],
)
def test_out_of_range_metadata_is_a_400_naming_the_field_and_the_rule(name: str, value: object, fragment: str) -> None:
    assert_invalid(body("txt2audio", **{name: value}), f"input.{name}", fragment)


def test_a_time_signature_written_as_a_float_is_read_as_its_integer() -> None:
    assert parse(body("txt2audio", time_signature=4.0)).input.echo()["time_signature"] == 4


def test_description_is_a_txt2audio_field_and_elsewhere_a_note() -> None:
    command = parse(body("audio2audio", description="a song about rain"))
    assert "description" not in command.input.echo()
    assert any("`input.description` is not a field of audio2audio" in note for note in command.notes)

"""Fields a client sends that no task type of this request uses: accepted, and each named in the task's
logs with the closest known field (PiAPI clients send extras; a typo must not pass silently)."""

from __future__ import annotations

import pytest

from .helpers import body, parse


def test_a_misspelt_input_field_is_named_with_the_field_it_resembles() -> None:
    command = parse(body(durration=10))
    assert command.echo["duration"] == 30  # the typo did not set the duration
    assert command.notes == (
        "`input.durration` is not a field of txt2audio and was ignored; did you mean `input.duration`?",
    )


def test_an_input_field_at_the_top_level_is_named_with_its_place_in_input() -> None:
    request = body()
    request["output_format"] = "wav"
    command = parse(request)
    assert command.output_format == "mp3"
    assert command.notes == (
        "`output_format` is not a field of the request's top level and was ignored; "
        "did you mean `input.output_format`?",
    )


def test_a_field_of_another_task_type_says_which_type_has_it() -> None:
    (note,) = parse(body("edit", duration=12)).notes
    assert note.startswith("`input.duration` is not a field of edit and was ignored (it is a field of txt2audio")


def test_an_unknown_field_with_nothing_close_is_named_alone() -> None:
    assert parse(body(callback_url="https://x.example")).notes == (
        "`input.callback_url` is not a field of txt2audio and was ignored.",
    )


def test_unknown_config_fields_are_named_too() -> None:
    request = body()
    request["config"] = {"webhook_config": {"endpoint": "", "secrett": "x"}}
    assert parse(request).notes == (
        "`config.webhook_config.secrett` is not a field of `config.webhook_config` and was ignored; "
        "did you mean `config.webhook_config.secret`?",
    )


@pytest.mark.parametrize("value", [None, ""])
def test_txt2audio_echoes_an_empty_style_audio_and_notes_nothing_for_an_empty_one(value: object) -> None:
    command = parse(body(style_audio=value))
    assert command.echo["style_audio"] == "" and command.notes == ()


def test_txt2audio_ignores_a_given_style_audio_and_says_so() -> None:
    command = parse(body(style_audio="https://cdn.example.com/a.mp3"))
    assert command.echo["style_audio"] == ""
    assert command.notes == ("`input.style_audio` is not used by txt2audio tasks and was ignored.",)


def test_known_fields_and_aliases_leave_no_notes() -> None:
    assert parse(body(negative_prompt="noise", infer_step=4, seed=1)).notes == ()
    assert parse(body("extend", left_extend_length=3)).notes == ()

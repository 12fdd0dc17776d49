"""The create-request body: envelope fields, the normalized echo, and the rules of each task type."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from aceserve.domain.inputs import CreateTaskCommand
from aceserve.domain.inputs_models import Txt2AudioInput
from aceserve.domain.states import TaskType

from .helpers import URL, assert_invalid, body, parse

TASK_TYPES = ["txt2audio", "audio2audio", "edit", "extend"]


# --- the body and its top-level fields -----------------------------------------------------------


@pytest.mark.parametrize("request_body", [None, [], [{"model": "Qubico/ace-step"}], "x", 1, 1.5, True])
def test_non_object_body_is_refused_naming_the_body(request_body: object) -> None:
    assert_invalid(request_body, "body", "must be a JSON object")


@pytest.mark.parametrize(
    ("model", "fragment"),
    [
        (None, 'is required and must be "Qubico/ace-step"'),
        ("qubico/ace-step", 'got "qubico/ace-step"'),
        ("Qubico/ace-step ", "must be"),
        ("Qubico/flux", 'got "Qubico/flux"'),
        (1, "got 1"),
    ],
)
def test_model_must_be_exactly_qubico_ace_step(model: object, fragment: str) -> None:
    request = body()
    request["model"] = model
    assert_invalid(request, "model", fragment)


def test_missing_model_is_refused() -> None:
    request = body()
    del request["model"]
    assert_invalid(request, "model", "is required")


@pytest.mark.parametrize(
    ("task_type", "fragment"),
    [
        (None, 'is required and must be one of "txt2audio", "audio2audio", "edit", "extend"'),
        ("TXT2AUDIO", 'got "TXT2AUDIO"'),
        ("text2music", 'must be one of "txt2audio", "audio2audio", "edit", "extend"; got "text2music"'),
        (["txt2audio"], "got an array"),
        (3, "got 3"),
    ],
)
def test_task_type_must_be_one_of_the_four(task_type: object, fragment: str) -> None:
    request = body()
    request["task_type"] = task_type
    assert_invalid(request, "task_type", fragment)


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_task_type_becomes_the_enum(task_type: str) -> None:
    command = parse(body(task_type))
    assert command.task_type is TaskType(task_type)
    assert command.model == "Qubico/ace-step"


@pytest.mark.parametrize(("value", "fragment"), [(None, "is required"), ("rock", 'got "rock"'), ([], "got an array")])
def test_input_must_be_an_object(value: object, fragment: str) -> None:
    request = body()
    request["input"] = value
    assert_invalid(request, "input", fragment)


def test_missing_input_is_refused() -> None:
    request = body()
    del request["input"]
    assert_invalid(request, "input", "is required")


# --- the normalized echo -----------------------------------------------------------------------


def test_defaults_echo_exactly_as_the_spec_example() -> None:
    command = parse(body(style_prompt="rock"))
    assert command.echo == {
        "duration": 30,
        "lyrics": "[inst]",
        "negative_style_prompt": "",
        "style_audio": "",
        "style_prompt": "rock",
    }
    assert isinstance(command.echo["duration"], int)
    assert command.output_format == "mp3"


@pytest.mark.parametrize(
    ("task_type", "expected"),
    [
        (
            "audio2audio",
            {"lyrics": "[inst]", "negative_style_prompt": "", "style_audio": URL, "style_prompt": "jazz"},
        ),
        (
            "edit",
            {
                "audio": URL,
                "edit_lyrics": "[inst]",
                "edit_style_prompt": "jazz",
                "lyrics": "[inst]",
                "style_prompt": "rock",
            },
        ),
        (
            "extend",
            {
                "audio": URL,
                "left_extend_duration": 0,
                "lyrics": "[inst]",
                "negative_style_prompt": "",
                "right_extend_duration": 30,
                "style_prompt": "rock",
            },
        ),
    ],
)
def test_defaults_are_filled_for_audio_task_types(task_type: str, expected: dict[str, Any]) -> None:
    assert parse(body(task_type)).echo == expected


ALL_FIELDS = {
    "style_prompt": "rock",
    "lyrics": "[verse] hi",
    "negative_style_prompt": "noise",
    "duration": 42,
    "style_audio": URL,
    "audio": URL,
    "audio_cover_strength": 0.5,
    "edit_style_prompt": "jazz",
    "edit_lyrics": "[chorus] yo",
    "edit_n_min": 0.1,
    "edit_n_max": 0.9,
    "left_extend_duration": 5,
    "right_extend_duration": 10,
    "seed": 7,
    "infer_steps": 8,
    "guidance_scale": 7.5,
    "output_format": "wav",
}


@pytest.mark.parametrize(
    ("task_type", "kept"),
    [
        ("txt2audio", {"style_prompt", "lyrics", "negative_style_prompt", "duration", "style_audio"}),
        (
            "audio2audio",
            {"style_audio", "style_prompt", "lyrics", "negative_style_prompt", "duration", "audio_cover_strength"},
        ),
        ("edit", {"audio", "style_prompt", "lyrics", "edit_style_prompt", "edit_lyrics", "edit_n_min", "edit_n_max"}),
        (
            "extend",
            {
                "audio",
                "left_extend_duration",
                "right_extend_duration",
                "style_prompt",
                "lyrics",
                "negative_style_prompt",
            },
        ),
    ],
)
def test_echo_keeps_only_fields_of_the_task_type_plus_extension_fields(task_type: str, kept: set[str]) -> None:
    extension = {"seed", "infer_steps", "guidance_scale", "output_format"}
    command = parse(body(task_type, **ALL_FIELDS, unknown_field={"x": 1}, prompt="ignored"))
    assert set(command.echo) == kept | extension
    expected = {name: ALL_FIELDS[name] for name in kept | extension}
    if task_type == "txt2audio":
        expected["style_audio"] = ""  # not used by txt2audio: echoed empty, the given URL named in the logs
    assert command.echo == expected


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_echo_keys_are_sorted(task_type: str) -> None:
    command = parse(body(task_type, seed=1, output_format="flac", infer_steps=4, guidance_scale=3))
    assert list(command.echo) == sorted(command.echo)


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_unknown_fields_are_ignored_not_rejected(task_type: str) -> None:
    plain = parse(body(task_type))
    extra = parse(body(task_type, foo="bar", callback_url=3, nested={"a": [1]}))
    assert extra.echo == plain.echo


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_null_counts_as_an_absent_optional_field(task_type: str) -> None:
    nulls = dict.fromkeys(
        ["lyrics", "negative_style_prompt", "duration", "seed", "output_format", "edit_lyrics", "right_extend_duration"]
    )
    assert parse(body(task_type, **nulls)).echo == parse(body(task_type)).echo


def test_strings_are_echoed_as_given_not_stripped() -> None:
    command = parse(body(style_prompt="  rock  ", lyrics="\n[verse]\nla\n"))
    assert command.echo["style_prompt"] == "  rock  "
    assert command.echo["lyrics"] == "\n[verse]\nla\n"


def test_command_is_frozen() -> None:
    command = parse(body())
    with pytest.raises(dataclasses.FrozenInstanceError):
        command.model = "other"  # type: ignore[misc]


# --- aliases -------------------------------------------------------------------------------------

ALIASES = [
    ("txt2audio", "negative_prompt", "negative_style_prompt", "noise"),
    ("audio2audio", "negative_prompt", "negative_style_prompt", "noise"),
    ("extend", "negative_prompt", "negative_style_prompt", "noise"),
    ("extend", "left_extend_length", "left_extend_duration", 12),
    ("extend", "right_extend_length", "right_extend_duration", 12.5),
    ("txt2audio", "infer_step", "infer_steps", 8),
    ("edit", "infer_step", "infer_steps", 20),
]


@pytest.mark.parametrize(("task_type", "alias", "canonical", "value"), ALIASES)
def test_alias_is_echoed_under_its_canonical_name(task_type: str, alias: str, canonical: str, value: Any) -> None:
    command = parse(body(task_type, **{alias: value}))
    assert command.echo[canonical] == value
    assert alias not in command.echo


@pytest.mark.parametrize(("task_type", "alias", "canonical", "value"), ALIASES)
def test_alias_and_canonical_with_equal_values_are_accepted(
    task_type: str, alias: str, canonical: str, value: Any
) -> None:
    command = parse(body(task_type, **{alias: value, canonical: value}))
    assert command.echo[canonical] == value


@pytest.mark.parametrize(("task_type", "alias", "canonical", "value"), ALIASES)
def test_alias_and_canonical_with_different_values_are_refused(
    task_type: str, alias: str, canonical: str, value: Any
) -> None:
    other = "other" if isinstance(value, str) else value + 1
    assert_invalid(
        body(task_type, **{alias: value, canonical: other}),
        f"input.{canonical}",
        f"and its alias `input.{alias}` must not both be given with different values",
    )


def test_alias_checks_use_json_equality() -> None:
    command = parse(body("extend", left_extend_length=5, left_extend_duration=5.0))
    assert command.echo["left_extend_duration"] == 5.0
    assert_invalid(
        body("extend", right_extend_length=True, right_extend_duration=1), "input.right_extend_duration", "alias"
    )


def test_alias_of_a_field_the_task_type_lacks_is_dropped() -> None:
    command = parse(body("edit", negative_prompt="noise", negative_style_prompt="other"))
    assert "negative_style_prompt" not in command.echo
    assert "negative_prompt" not in command.echo


# --- prompts and lyrics --------------------------------------------------------------------------

PROMPTS = [
    ("txt2audio", "style_prompt"),
    ("audio2audio", "style_prompt"),
    ("edit", "style_prompt"),
    ("edit", "edit_style_prompt"),
    ("extend", "style_prompt"),
]


@pytest.mark.parametrize(("task_type", "name"), PROMPTS)
@pytest.mark.parametrize("value", [None, "", "   ", "\n\t"])
def test_required_prompt_must_be_given_and_not_blank(task_type: str, name: str, value: object) -> None:
    fragment = "is required for task_type" if value is None else "must not be empty"
    assert_invalid(body(task_type, **{name: value}), f"input.{name}", fragment)


@pytest.mark.parametrize(("task_type", "name"), PROMPTS)
def test_missing_required_prompt_names_the_task_type(task_type: str, name: str) -> None:
    request = body(task_type)
    del request["input"][name]
    assert_invalid(request, f"input.{name}", f'is required for task_type "{task_type}"')


@pytest.mark.parametrize(("task_type", "name"), PROMPTS)
@pytest.mark.parametrize(("value", "shown"), [(5, "got 5"), (["rock"], "got an array"), (True, "got true")])
def test_prompt_must_be_a_string(task_type: str, name: str, value: object, shown: str) -> None:
    assert_invalid(body(task_type, **{name: value}), f"input.{name}", f"must be a string; {shown}")


@pytest.mark.parametrize(
    ("task_type", "name", "limit"),
    [
        ("txt2audio", "style_prompt", 1000),
        ("edit", "edit_style_prompt", 1000),
        ("txt2audio", "negative_style_prompt", 1000),
        ("txt2audio", "lyrics", 10_000),
        ("edit", "lyrics", 10_000),
        ("edit", "edit_lyrics", 10_000),
        ("extend", "lyrics", 10_000),
    ],
)
def test_text_length_limits(task_type: str, name: str, limit: int) -> None:
    assert parse(body(task_type, **{name: "a" * limit})).echo[name] == "a" * limit
    assert_invalid(
        body(task_type, **{name: "a" * (limit + 1)}),
        f"input.{name}",
        f"must be at most {limit} characters; got {limit + 1}",
    )


@pytest.mark.parametrize("name", ["lyrics", "negative_style_prompt"])
@pytest.mark.parametrize("value", [1, {"a": 1}, False])
def test_optional_text_must_be_a_string(name: str, value: object) -> None:
    assert_invalid(body(**{name: value}), f"input.{name}", "must be a string")


@pytest.mark.parametrize("lyrics", ["", "[instrumental]", "[verse]\nhello\n[chorus]\nworld"])
def test_lyrics_are_free_text_including_empty(lyrics: str) -> None:
    assert parse(body(lyrics=lyrics)).echo["lyrics"] == lyrics


# --- the command's repr --------------------------------------------------------------------------


def test_repr_hides_webhook_secret_and_audio_bytes() -> None:
    request = body("edit", audio="QUJD" * 1000)
    request["config"] = {"webhook_config": {"endpoint": "https://h.example/w", "secret": "s3cr3t-value"}}
    command = parse(request)
    text = repr(command)
    assert "s3cr3t-value" not in text
    assert "QUJD" not in text and "ABC" not in text
    assert "<3000 bytes>" in text


def test_command_can_be_built_directly() -> None:
    command = CreateTaskCommand(
        model="Qubico/ace-step", task_type=TaskType.TXT2AUDIO, input=Txt2AudioInput(style_prompt="rock")
    )
    assert command.inline_audio == {} and command.notes == ()
    assert command.webhook_endpoint == "" and command.echo["duration"] == 30

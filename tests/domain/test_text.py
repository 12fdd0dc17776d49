"""The text rule: what the parser refuses, what the schema's pattern says, and that the two agree."""

from __future__ import annotations

import json
import re

import pytest

from aceserve.domain.errors import InvalidInput
from aceserve.domain.inputs import parse_create_request
from aceserve.domain.text import (
    NON_BLANK_TEXT_PATTERN,
    TEXT_PATTERN,
    json_bytes,
    storable_text,
    text_problem,
)


def _create(**input_: object) -> object:
    return parse_create_request({"model": "Qubico/ace-step", "task_type": "txt2audio", "input": input_})


@pytest.mark.parametrize(
    ("field", "value", "found"),
    [
        ("style_prompt", "rock \ud800", "lone UTF-16 surrogate (U+D800) at position 5"),
        ("style_prompt", "\udfff", "lone UTF-16 surrogate (U+DFFF) at position 0"),
        ("lyrics", "a\x00b", "control character (U+0000) at position 1"),
        ("negative_style_prompt", "x\x1b[31m", "control character (U+001B)"),
        ("lyrics", "c1 \x85", "control character (U+0085)"),
        ("lyrics", "del \x7f", "control character (U+007F)"),
    ],
)
def test_text_fields_refuse_lone_surrogates_and_control_characters(field: str, value: str, found: str) -> None:
    given = {"style_prompt": "rock", field: value}
    with pytest.raises(InvalidInput) as caught:
        _create(**given)
    assert caught.value.field == f"input.{field}"
    assert found in caught.value.message


def test_text_fields_take_tabs_line_breaks_and_any_scalar_value() -> None:
    command = _create(
        style_prompt="rock\tpop", lyrics="[verse]\r\nline 1\nline 2 😀 ✓ \u00a0", negative_style_prompt=""
    )
    assert command.input.lyrics.startswith("[verse]\r\n")  # type: ignore[attr-defined]


def test_edit_prompts_and_webhook_endpoints_follow_the_rule() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_create_request(
            {
                "model": "Qubico/ace-step",
                "task_type": "edit",
                "input": {"audio": "https://example.com/a.mp3", "style_prompt": "a", "edit_style_prompt": "b\ud83d"},
            }
        )
    assert caught.value.field == "input.edit_style_prompt"
    with pytest.raises(InvalidInput) as caught:
        parse_create_request(
            {
                "model": "Qubico/ace-step",
                "task_type": "txt2audio",
                "input": {"style_prompt": "a"},
                "config": {"webhook_config": {"endpoint": "https://example.com/\ud800"}},
            }
        )
    assert caught.value.field == "config.webhook_config.endpoint"


def test_ignored_field_names_are_stored_as_encodable_notes() -> None:
    command = _create(style_prompt="rock", **{"bad\ud800name": 1})
    assert command.notes and all(note.encode("utf-8") for note in command.notes)  # type: ignore[attr-defined]


def test_the_schema_pattern_and_the_parser_agree_on_every_bmp_character() -> None:
    text, non_blank = re.compile(TEXT_PATTERN), re.compile(NON_BLANK_TEXT_PATTERN)
    for code in range(0x10000):
        char = chr(code)
        if 0xD800 <= code <= 0xDFFF:  # refused by the parser; no pattern engine of a validator takes them
            assert text_problem(char) is not None
            continue
        allowed = text_problem(char) is None
        assert bool(text.match(f"a{char}b")) == allowed, hex(code)
        assert bool(non_blank.match(char)) == (allowed and not char.isspace()), hex(code)
        assert bool(non_blank.match(f" {char} x")) == allowed, hex(code)


def test_json_bytes_renders_any_string() -> None:
    data = {"k\ud800": ["\udc00 x", "nul \x00"], "ok": "😀"}
    decoded = json.loads(json_bytes(data).decode("utf-8"))
    assert decoded == {"k\ufffd": ["\ufffd x", "nul \x00"], "ok": "😀"}
    assert storable_text("a\x00\ud800") == "a\ufffd\ufffd"
    assert storable_text("\ud83d\ude00") == "😀"  # a valid pair written as two halves is joined

"""The planner's prompts and chain of thought in ACE-Step 1.5's format, and its parser.

The expected strings are written out from ACE-Step 1.5's ``acestep/llm_inference.py`` (its
``build_formatted_prompt``, ``build_formatted_prompt_with_cot``, ``build_formatted_prompt_for_inspiration``
and ``_format_metadata_as_cot``) for the same inputs, rendered with the tiny LM's ChatML template;
``make upstream-check`` compares against upstream's own functions where a checkout is at hand.
"""

from __future__ import annotations

from typing import Any

import pytest

from aceserve.engine.planner import prompts
from aceserve.engine.planner.parse import Metadata, PlanError, lyrics_after_thought, parse_metadata
from aceserve.engine.planner.tiny_lm import build_tokenizer

SYSTEM = (
    "<|im_start|>system\n# Instruction\nGenerate audio semantic tokens based on the given conditions:\n\n<|im_end|>\n"
)


@pytest.fixture(scope="module")
def renderer() -> prompts.Renderer:
    return prompts.Renderer(build_tokenizer())


def test_chain_of_thought_prompt(renderer: prompts.Renderer) -> None:
    text = renderer.opening(prompts.thought_messages("calm piano", "[verse] hello"))
    assert text == (
        SYSTEM
        + "<|im_start|>user\n# Caption\ncalm piano\n\n# Lyric\n[verse] hello\n<|im_end|>\n<|im_start|>assistant\n"
    )


def test_chain_of_thought_unconditional_prompt_drops_the_caption(renderer: prompts.Renderer) -> None:
    assert renderer.opening(prompts.unconditional_thought_messages("[verse] hello")) == (
        SYSTEM + "<|im_start|>user\n# Lyric\n[verse] hello\n<|im_end|>\n<|im_start|>assistant\n"
    )
    with_negative = renderer.opening(prompts.unconditional_thought_messages("[verse] hello", "harsh noise"))
    assert "# Caption\nharsh noise\n\n# Lyric\n[verse] hello\n" in with_negative


def test_codes_prompt_has_the_thought_as_the_assistants_message(renderer: prompts.Renderer) -> None:
    thought = "<think>\nbpm: 120\nduration: 30\n</think>"
    assert renderer.continuing(prompts.codes_messages("calm piano", "[Instrumental]", thought)) == (
        SYSTEM + "<|im_start|>user\n# Caption\ncalm piano\n\n# Lyric\n[Instrumental]\n<|im_end|>\n"
        "<|im_start|>assistant\n<think>\nbpm: 120\nduration: 30\n</think><|im_end|>\n"
    )
    unconditional = renderer.continuing(prompts.unconditional_codes_messages("calm piano", "[Instrumental]"))
    assert unconditional.endswith(
        "# Caption\ncalm piano\n\n# Lyric\n[Instrumental]\n<|im_end|>\n"
        "<|im_start|>assistant\n<think>\n</think><|im_end|>\n"
    )


def test_inspiration_prompt(renderer: prompts.Renderer) -> None:
    assert renderer.opening(prompts.inspiration_messages("a soft love song")) == (
        "<|im_start|>system\n# Instruction\nExpand the user's input into a more detailed and specific musical "
        "description:\n\n<|im_end|>\n<|im_start|>user\na soft love song\n\ninstrumental: false<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert prompts.inspiration_messages(" ", instrumental=True)[1]["content"] == "NO USER INPUT\n\ninstrumental: true"


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        (
            {"bpm": 120, "caption": "calm piano", "duration": 30, "keyscale": "C major", "language": "en",
             "timesignature": 4},
            "<think>\nbpm: 120\ncaption: calm piano\nduration: 30\nkeyscale: C major\nlanguage: en\n"
            "timesignature: 4\n</think>",
        ),
        (
            {"timesignature": "3/4", "bpm": "96", "duration": 12},
            "<think>\nbpm: 96\nduration: 12\ntimesignature: 3\n</think>",
        ),
        ({}, "<think>\n\n</think>"),
    ],
)  # fmt: skip
def test_chain_of_thought_is_sorted_yaml(metadata: dict[str, Any], expected: str) -> None:
    assert prompts.format_chain_of_thought(metadata) == expected


def test_a_long_caption_wraps_as_yaml_and_parses_back_to_one_line() -> None:
    caption = "A gentle acoustic ballad with fingerpicked guitar, soft strings and a warm, intimate female vocal."
    thought = prompts.format_chain_of_thought({"bpm": 72, "caption": caption, "keyscale": "B♭ major"})
    assert "\n  " in thought  # YAML folds it, as upstream's does
    assert parse_metadata(thought) == Metadata(bpm=72, caption=caption, key_scale="B♭ major")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("bpm: 120", "no <think>"),
        ("<think>\nbpm: 20\n</think>", "`bpm` must be a whole number from 30 to 300"),
        ("<think>\nkeyscale: H major\n</think>", "`keyscale` 'H major'"),
        ("<think>\ntimesignature: 5\n</think>", "`timesignature` '5'"),
        ("<think>\nlanguage: xx\n</think>", "`language` 'xx'"),
    ],
)
def test_a_malformed_thought_is_a_plan_error(text: str, fragment: str) -> None:
    with pytest.raises(PlanError, match=fragment):
        parse_metadata(text)


def test_lyrics_follow_the_thought_without_heading_or_end_token() -> None:
    text = "<think>\nbpm: 90\n</think>\n# Lyric\n[verse]\nrain on the window<|im_end|>"
    assert lyrics_after_thought(text, "<|im_end|>") == "[verse]\nrain on the window"
    with pytest.raises(PlanError, match="no lyrics"):
        lyrics_after_thought("<think>\n</think><|im_end|>", "<|im_end|>")

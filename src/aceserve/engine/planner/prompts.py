"""The prompts ACE-Step 1.5 gives its 5 Hz LM, phase by phase, as chat messages.

The strings are ACE-Step 1.5's (``acestep/llm_inference.py`` and ``acestep/constants.py`` upstream);
the chat markup around them is the LM tokenizer's own chat template, as upstream renders them.

- chain of thought (phase 1): system ``# Instruction`` + the LM instruction, user ``# Caption`` and
  ``# Lyric``; the generation prompt opens the assistant turn. Its unconditional twin (for
  classifier-free guidance) drops the caption.
- audio codes (phase 2): the same system and user messages, then the chain of thought as the
  assistant's message, and a line break; its unconditional twin has an empty chain of thought.
- inspiration (a song from a description): system with the inspiration instruction, user
  ``<description>\\n\\ninstrumental: false``.

``format_chain_of_thought`` writes metadata as the LM was trained to read it: YAML with sorted keys
between ``<think>`` lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from aceserve.engine.planner.vocab import THINK_END, THINK_START

LM_INSTRUCTION = "Generate audio semantic tokens based on the given conditions:"
INSPIRATION_INSTRUCTION = "Expand the user's input into a more detailed and specific musical description:"
NO_INPUT = "NO USER INPUT"  # what upstream writes for an absent query or negative prompt
EMPTY_THOUGHT = f"{THINK_START}\n{THINK_END}"

Messages = list[dict[str, str]]


def _system(instruction: str) -> dict[str, str]:
    return {"role": "system", "content": f"# Instruction\n{instruction}\n\n"}


def _caption_and_lyrics(caption: str, lyrics: str) -> str:
    return f"# Caption\n{caption}\n\n# Lyric\n{lyrics}\n"


def thought_messages(caption: str, lyrics: str) -> Messages:
    """Phase 1: the LM writes its chain of thought."""
    return [_system(LM_INSTRUCTION), {"role": "user", "content": _caption_and_lyrics(caption, lyrics)}]


def unconditional_thought_messages(lyrics: str, negative: str = NO_INPUT) -> Messages:
    """Phase 1's unconditional twin: the caption removed (or replaced by a negative prompt)."""
    if negative.strip() and negative.strip() != NO_INPUT:
        content = _caption_and_lyrics(negative, lyrics)
    else:
        content = f"# Lyric\n{lyrics}\n"
    return [_system(LM_INSTRUCTION), {"role": "user", "content": content}]


def codes_messages(caption: str, lyrics: str, thought: str) -> Messages:
    """Phase 2: the chain of thought stands as the assistant's message; codes follow it."""
    return [*thought_messages(caption, lyrics), {"role": "assistant", "content": thought}]


def unconditional_codes_messages(caption: str, lyrics: str, negative: str = NO_INPUT) -> Messages:
    shown = negative if negative.strip() and negative.strip() != NO_INPUT else caption
    return codes_messages(shown, lyrics, EMPTY_THOUGHT)


def inspiration_messages(description: str, *, instrumental: bool = False) -> Messages:
    """A song from a description: the LM writes metadata, a caption and lyrics."""
    query = description if description.strip() else NO_INPUT
    flag = "true" if instrumental else "false"
    return [_system(INSPIRATION_INSTRUCTION), {"role": "user", "content": f"{query}\n\ninstrumental: {flag}"}]


@dataclass(frozen=True)
class Renderer:
    """Messages to prompt text through the tokenizer's chat template."""

    tokenizer: Any

    def opening(self, messages: Messages) -> str:
        """A prompt that opens the assistant's turn (phase 1, inspiration)."""
        text: str = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return text

    def continuing(self, messages: Messages) -> str:
        """A prompt whose last message is the assistant's (phase 2), ending on a line break."""
        text: str = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
        return text if text.endswith("\n") else text + "\n"


def format_chain_of_thought(metadata: dict[str, Any]) -> str:
    """``<think>``, the metadata as YAML with sorted keys, ``</think>``; a time signature is a number."""
    items: dict[str, Any] = {}
    for key in ("bpm", "caption", "duration", "keyscale", "language", "timesignature"):
        value = metadata.get(key)
        if value is None:
            continue
        if key == "timesignature" and isinstance(value, str) and value.endswith("/4"):
            value = value.split("/")[0]
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        items[key] = value
    body = yaml.dump(items, allow_unicode=True, sort_keys=True).strip() if items else ""
    return f"{THINK_START}\n{body}\n{THINK_END}"

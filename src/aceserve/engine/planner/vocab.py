"""The planner's view of its tokenizer: audio-code tokens, special tokens and the token sets the
constrained decoder allows in each part of a plan.

ACE-Step 1.5's LMs add one token per audio code, ``<|audio_code_0|>`` … ``<|audio_code_63999|>``, to a
Qwen3 tokenizer. Codes the DiT's quantizer cannot take (at or beyond its codebook size) are never
allowed. Every set is a boolean mask over the model's output vocabulary (which may be larger than
the tokenizer: padding rows are never allowed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import torch

AUDIO_CODES = 64_000
"""Audio-code tokens in ACE-Step 1.5's LM vocabulary (its FSQ codebook size)."""
THINK_START = "<think>"
THINK_END = "</think>"
_CODE = re.compile(r"<\|audio_code_(\d+)\|>")


def code_token(code: int) -> str:
    return f"<|audio_code_{code}|>"


def codes_in(text: str) -> list[int]:
    """The audio codes written in ``text``, in order."""
    return [int(match) for match in _CODE.findall(text)]


class VocabularyError(ValueError):
    """The tokenizer lacks what a planner needs (audio-code tokens, an end token)."""


@dataclass(frozen=True)
class Vocabulary:
    """Token ids and the sets of allowed tokens (sorted id tensors) for one tokenizer and model."""

    size: int  # rows of the model's output layer
    eos: int
    pad: int
    codes: torch.Tensor  # token id of each usable code, code i at index i
    spaced: torch.Tensor  # text tokens without a line break that start with a space and say something
    line: torch.Tensor  # text tokens without a line break, and the first token of a line break
    prose: torch.Tensor  # text tokens (line breaks too): no codes, no special tokens, no control characters
    prose_or_end: torch.Tensor  # ``prose`` and the end token
    newline: tuple[int, ...]  # how the tokenizer writes "\n"
    code_of: dict[int, int]  # token id -> audio code


def build_vocabulary(tokenizer: Any, model_vocab: int, codebook_size: int = AUDIO_CODES) -> Vocabulary:
    """Scan ``tokenizer`` once (at load): the token sets the constrained decoder uses."""
    usable = min(codebook_size, AUDIO_CODES)
    code_ids = tokenizer.convert_tokens_to_ids([code_token(code) for code in range(usable)])
    unknown = tokenizer.unk_token_id
    if any(i is None or i == unknown for i in code_ids) or len(set(code_ids)) != usable:
        raise VocabularyError(
            f"The LM's tokenizer does not have the {usable} audio-code tokens <|audio_code_N|> an ACE-Step 1.5 "
            "planner writes; this is not an ACE-Step 5 Hz LM."
        )
    eos = tokenizer.eos_token_id
    if eos is None:
        raise VocabularyError("The LM's tokenizer has no end-of-sequence token.")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    added = set(tokenizer.get_added_vocab().values()) | set(tokenizer.all_special_ids)
    text_ids = [i for i in range(min(len(tokenizer), model_vocab)) if i not in added]
    texts = tokenizer.batch_decode([[i] for i in text_ids])
    newline = tuple(tokenizer.encode("\n", add_special_tokens=False))
    line: list[int] = []
    spaced: list[int] = []
    prose: list[int] = []
    for token_id, text in zip(text_ids, texts, strict=True):
        if not text or any((ch < " " and ch not in "\n\t") or ch == "\x7f" for ch in text):
            continue
        prose.append(token_id)
        if "\n" not in text:
            line.append(token_id)
            if text.startswith(" ") and text.strip():
                spaced.append(token_id)
    if not line or not newline:
        raise VocabularyError("The LM's tokenizer cannot write plain text lines.")

    def ids(values: list[int]) -> torch.Tensor:
        return torch.tensor(sorted(set(values)), dtype=torch.long)

    return Vocabulary(
        size=model_vocab,
        eos=int(eos),
        pad=int(pad),
        codes=torch.tensor(code_ids, dtype=torch.long),
        spaced=ids(spaced or line),
        line=ids([*line, newline[0]]),
        prose=ids(prose),
        prose_or_end=ids([*prose, int(eos)]),
        newline=newline,
        code_of={int(token_id): code for code, token_id in enumerate(code_ids)},
    )

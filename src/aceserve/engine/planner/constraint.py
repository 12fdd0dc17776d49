"""Constrained decoding: what the LM may write next, so that every plan is well formed.

A plan is a *program* of segments the decoder walks token by token:

- ``Forced``: fixed text (``<think>``, ``bpm:``, a value the user gave), one token at a time;
- ``Choice``: one of a closed set of values (a bpm from 30 to 300, one of the 70 keys, a vocal
  language, a time signature), through a trie of their token sequences, each ending in a line break;
- ``Line``: free text on one line (the caption): it starts with a spaced word, holds no line break
  and ends with one, after at most ``max_tokens`` tokens;
- ``Codes``: exactly ``count`` audio codes the DiT's quantizer can take;
- ``Prose``: free text without audio codes (lyrics), ending with the end token.

ACE-Step 1.5 does the same job with a finite-state machine over prefix trees of the same value sets
(``constrained_logits_processor.py`` upstream), in the same field order: bpm, caption, duration, key,
language, time signature. Differences: the caption is one line here (upstream also lets it wrap as
indented YAML), and genres are never written (upstream skips them by default too).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from aceserve.domain.music import (
    KEY_SCALES,
    MAX_BPM,
    MAX_PLAN_SECONDS,
    MIN_BPM,
    MIN_PLAN_SECONDS,
    TIME_SIGNATURES,
    VOCAL_LANGUAGES,
)
from aceserve.engine.planner.vocab import THINK_END, THINK_START, Vocabulary

MAX_CAPTION_TOKENS = 512  # upstream's cap on the caption
MAX_LYRICS_TOKENS = 1024

Trie = dict[int, "Trie"]


@dataclass(frozen=True)
class Forced:
    ids: tuple[int, ...]


@dataclass(frozen=True)
class Choice:
    trie: Trie


@dataclass(frozen=True)
class Line:
    max_tokens: int = MAX_CAPTION_TOKENS


@dataclass(frozen=True)
class Codes:
    count: int


@dataclass(frozen=True)
class Prose:
    max_tokens: int = MAX_LYRICS_TOKENS


Segment = Forced | Choice | Line | Codes | Prose
FIELDS = ("bpm", "caption", "duration", "keyscale", "language", "timesignature")
"""The chain of thought's fields, in the order the LM writes them."""


def build_trie(sequences: Iterable[Sequence[int]]) -> Trie:
    """A trie of token sequences. A sequence that is a strict prefix of another ends where the longer
    one branches off (values end in a line break, so the value sets here have none)."""
    root: Trie = {}
    for sequence in sequences:
        node = root
        for token in sequence:
            node = node.setdefault(token, {})
    return root


@dataclass(frozen=True)
class Grammar:
    """Everything a program is built from, tokenized once per tokenizer."""

    tokenizer: Any
    vocab: Vocabulary
    choices: dict[str, Trie] = field(default_factory=dict)

    @classmethod
    def build(cls, tokenizer: Any, vocab: Vocabulary) -> Grammar:
        values: dict[str, Iterable[object]] = {
            "bpm": range(MIN_BPM, MAX_BPM + 1),
            "duration": range(MIN_PLAN_SECONDS, MAX_PLAN_SECONDS + 1),
            "keyscale": KEY_SCALES,
            "language": VOCAL_LANGUAGES,
            "timesignature": TIME_SIGNATURES,
        }
        grammar = cls(tokenizer, vocab)
        for name, options in values.items():
            grammar.choices[name] = build_trie(grammar.encode(f" {value}\n") for value in options)
        return grammar

    def encode(self, text: str) -> tuple[int, ...]:
        return tuple(self.tokenizer.encode(text, add_special_tokens=False))

    def thought(self, given: dict[str, object]) -> list[Segment]:
        """``<think>`` … ``</think>``: each field named, its value forced when given, else chosen or written."""
        program: list[Segment] = [Forced(self.encode(THINK_START) + self.encode("\n"))]
        for name in FIELDS:
            program.append(Forced(self.encode(f"{name}:")))
            value = given.get(name)
            if value is not None:
                program.append(Forced(self.encode(f" {value}\n")))
            elif name == "caption":
                program.append(Line())
            else:
                program.append(Choice(self.choices[name]))
        program.append(Forced(self.encode(THINK_END)))
        return program

    def codes(self, count: int) -> list[Segment]:
        return [Codes(count), Forced((self.vocab.eos,))]


class Constrained:
    """One row's walk through its program: what may come next, and the token that came."""

    def __init__(self, program: Sequence[Segment], vocab: Vocabulary) -> None:
        self._segments = list(program)
        self._vocab = vocab
        self._index = 0
        self._step = 0  # tokens written in the current segment
        self._node: Trie | None = None
        self._enter()

    @property
    def done(self) -> bool:
        return self._index >= len(self._segments)

    def allowed(self) -> int | torch.Tensor:
        """The one token that must come next, or the ids of the tokens that may."""
        segment = self._segments[self._index]
        vocab = self._vocab
        if isinstance(segment, Forced):
            return segment.ids[self._step]
        if isinstance(segment, Choice):
            assert self._node is not None
            keys = sorted(self._node)
            return keys[0] if len(keys) == 1 else torch.tensor(keys, dtype=torch.long)
        if isinstance(segment, Line):
            if self._step >= segment.max_tokens:
                return vocab.newline[0]
            return vocab.line if self._step else vocab.spaced
        if isinstance(segment, Codes):
            return vocab.codes
        if self._step >= segment.max_tokens:
            return vocab.eos
        return vocab.prose_or_end if self._step else vocab.prose

    def advance(self, token: int) -> None:
        segment = self._segments[self._index]
        self._step += 1
        if isinstance(segment, Forced):
            finished = self._step == len(segment.ids)
        elif isinstance(segment, Choice):
            assert self._node is not None
            self._node = self._node[token]
            finished = not self._node
        elif isinstance(segment, Line):
            finished = token == self._vocab.newline[0]
            if finished and len(self._vocab.newline) > 1:
                self._segments.insert(self._index + 1, Forced(self._vocab.newline[1:]))
        elif isinstance(segment, Codes):
            finished = self._step == segment.count
        else:
            finished = token == self._vocab.eos
        if finished:
            self._index += 1
            self._enter()

    def _enter(self) -> None:
        self._step = 0
        while not self.done:
            segment = self._segments[self._index]
            if isinstance(segment, Codes) and segment.count == 0:
                self._index += 1
                continue
            self._node = segment.trie if isinstance(segment, Choice) else None
            return

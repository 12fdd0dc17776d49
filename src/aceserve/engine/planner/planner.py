"""The planner: ACE-Step 1.5's LM phases for a batch of tasks, each phase one batched decode.

1. Inspiration (tasks with a ``description``): the LM writes a chain of thought (metadata and a
   caption) and then lyrics, without guidance (as upstream's sample-from-query does).
2. Chain of thought (tasks that lack any of bpm, key and time signature): the LM writes the missing
   metadata, a caption and the vocal language, with what the user gave forced into place, under
   classifier-free guidance against the caption-less prompt. Tasks that have all three skip it and
   plan from their metadata alone, as upstream does.
3. Audio codes (tasks that think): the chain of thought stands as the assistant's message and the LM
   writes exactly ``codes`` 5 Hz audio codes, under guidance against an empty chain of thought.

Every task's outcome is its own: a plan, or the reason its output could not be used. Progress is
reported in decode steps against what each phase is expected to take: exactly the codes for phase 3,
typical lengths for the free-length phases 1 and 2 (a phase that runs long holds its share's end until
the next one starts).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from aceserve.engine.planner.constraint import Grammar, Prose, Segment
from aceserve.engine.planner.decode import Decoder, Row, Sampling
from aceserve.engine.planner.parse import Metadata, Plan, PlanError, lyrics_after_thought, parse_metadata
from aceserve.engine.planner.prompts import (
    Renderer,
    codes_messages,
    format_chain_of_thought,
    inspiration_messages,
    thought_messages,
    unconditional_codes_messages,
    unconditional_thought_messages,
)
from aceserve.engine.planner.vocab import AUDIO_CODES, build_vocabulary

MAX_SEED = 2**63 - 1
THOUGHT_STEPS = 96  # typical decode steps of a chain of thought: metadata and a one-line caption
INSPIRATION_STEPS = 384  # a chain of thought and lyrics
CODES_OVERHEAD = 4  # the forced tokens around the audio codes

PlanProgressCallback = Callable[[float], None]


class PlanningStopped(Exception):
    """Planning was stopped (the task was cancelled) before it finished."""


@dataclass(frozen=True)
class PlanRequest:
    seed: int
    caption: str
    lyrics: str  # as the DiT reads them (``[Instrumental]`` for an instrumental)
    seconds: int  # the duration written into the chain of thought, 10–600
    codes: int  # audio codes to write; 0: metadata only
    given: Metadata = field(default_factory=Metadata)  # what the user fixed (bpm, key, time signature, language)
    description: str | None = None
    keep_lyrics: bool = False  # with a description: the user's lyrics stay, the LM writes only the caption
    sampling: Sampling = field(default_factory=Sampling)


@dataclass(frozen=True)
class PlanOutcome:
    plan: Plan | None
    error: str | None = None
    tokens: int = 0  # tokens the LM wrote for this task
    seconds: float = 0.0  # wall time of the phases this task took part in


@dataclass
class _State:
    request: PlanRequest
    caption: str
    lyrics: str
    metadata: Metadata
    written_lyrics: str | None = None
    thought_caption: str | None = None
    codes: tuple[int, ...] = ()
    error: str | None = None
    tokens: int = 0
    seconds: float = 0.0

    def known(self) -> dict[str, object]:
        """The chain of thought's fields fixed before the LM writes (user's, or inspired)."""
        return {**self.metadata.fields(), "duration": self.request.seconds}


class Planner:
    """A loaded 5 Hz LM and everything decoding with it needs (built once, at load)."""

    def __init__(self, model: Any, tokenizer: Any, *, device: torch.device, codebook_size: int, name: str) -> None:
        self.name = name
        self.device = device
        self.tokenizer = tokenizer
        self.vocab = build_vocabulary(tokenizer, int(model.config.vocab_size), codebook_size)
        self.grammar = Grammar.build(tokenizer, self.vocab)
        self.renderer = Renderer(tokenizer)
        self.decoder = Decoder(model, tokenizer, self.vocab, device)
        self.codebook_size = min(codebook_size, AUDIO_CODES)

    def plan(
        self,
        requests: Sequence[PlanRequest],
        should_stop: Callable[[], bool] | None = None,
        on_progress: PlanProgressCallback | None = None,
    ) -> list[PlanOutcome]:
        """Plan every request; ``on_progress`` gets the fraction of planning done (monotonic, below 1)."""
        states = [_State(r, r.caption, r.lyrics, r.given) for r in requests]
        inspiring = [s for s in states if s.request.description]
        expected = (
            INSPIRATION_STEPS if inspiring else 0,
            THOUGHT_STEPS if any(s.request.description or not _has_all(s.metadata) for s in states) else 0,
            max((s.request.codes + CODES_OVERHEAD for s in states if s.request.codes > 0), default=0),
        )
        progress = _PlanProgress(on_progress, expected)
        self._inspire(inspiring, should_stop, progress.phase(0))
        thinking = [s for s in states if s.error is None and not _has_all(s.metadata)]
        self._think(thinking, should_stop, progress.phase(1))
        self._write_codes(
            [s for s in states if s.error is None and s.request.codes > 0], should_stop, progress.phase(2)
        )
        return [self._outcome(state) for state in states]

    # -- phases -------------------------------------------------------------------------------

    def _inspire(self, states: list[_State], should_stop: Callable[[], bool] | None, on_step: _OnStep) -> None:
        rows = []
        for state in states:
            request = state.request
            program: list[Segment] = [*self.grammar.thought(state.known()), Prose()]
            messages = inspiration_messages(request.description or "", instrumental=False)
            sampling = dataclasses.replace(request.sampling, cfg_scale=1.0)  # upstream guides no inspiration
            rows.append(Row(self.renderer.opening(messages), program, sampling, _seed(request.seed, 0)))
        for state, text in self._decode(states, rows, should_stop, on_step):
            try:
                inspired = parse_metadata(text)
                if not state.request.keep_lyrics:
                    state.written_lyrics = lyrics_after_thought(text, self.tokenizer.eos_token or "")
                    state.lyrics = state.written_lyrics
            except PlanError as exc:
                state.error = f"inspiration: {exc}"
                continue
            state.caption = inspired.caption or state.caption
            state.thought_caption = inspired.caption
            state.metadata = _merge(state.metadata, inspired)

    def _think(self, states: list[_State], should_stop: Callable[[], bool] | None, on_step: _OnStep) -> None:
        rows = []
        for state in states:
            prompt = self.renderer.opening(thought_messages(state.caption, state.lyrics))
            unconditional = self.renderer.opening(unconditional_thought_messages(state.lyrics))
            program = self.grammar.thought(state.known())
            rows.append(Row(prompt, program, state.request.sampling, _seed(state.request.seed, 1), unconditional))
        for state, text in self._decode(states, rows, should_stop, on_step):
            try:
                thought = parse_metadata(text)
            except PlanError as exc:
                state.error = f"chain of thought: {exc}"
                continue
            state.thought_caption = thought.caption
            state.metadata = _merge(state.metadata, thought)

    def _write_codes(self, states: list[_State], should_stop: Callable[[], bool] | None, on_step: _OnStep) -> None:
        rows = []
        for state in states:
            fields = state.metadata.fields()
            if state.thought_caption is None:
                fields.pop("caption", None)
                fields.pop("language", None)  # a plan from the user's metadata alone, as upstream writes it
            thought = format_chain_of_thought({**fields, "duration": state.request.seconds})
            prompt = self.renderer.continuing(codes_messages(state.caption, state.lyrics, thought))
            unconditional = self.renderer.continuing(unconditional_codes_messages(state.caption, state.lyrics))
            program = self.grammar.codes(state.request.codes)
            rows.append(Row(prompt, program, state.request.sampling, _seed(state.request.seed, 2), unconditional))
        code_of = self.vocab.code_of
        for state, tokens in self._decode_tokens(states, rows, should_stop, on_step):
            codes = tuple(code_of[token] for token in tokens if token in code_of)
            if len(codes) != state.request.codes or any(code >= self.codebook_size for code in codes):
                state.error = f"audio codes: the LM wrote {len(codes)} usable codes, not {state.request.codes}"
                continue
            state.codes = codes

    # -- helpers ------------------------------------------------------------------------------

    def _decode_tokens(
        self, states: list[_State], rows: list[Row], should_stop: Callable[[], bool] | None, on_step: _OnStep
    ) -> list[tuple[_State, list[int]]]:
        if not rows:
            return []
        decoded = self.decoder.run(rows, should_stop, on_step)
        if decoded.stopped:
            raise PlanningStopped("planning was stopped")
        for state, tokens in zip(states, decoded.tokens, strict=True):
            state.tokens += len(tokens)
            state.seconds += decoded.seconds
        return list(zip(states, decoded.tokens, strict=True))

    def _decode(
        self, states: list[_State], rows: list[Row], should_stop: Callable[[], bool] | None, on_step: _OnStep
    ) -> list[tuple[_State, str]]:
        return [
            (state, self.tokenizer.decode(tokens, skip_special_tokens=False))
            for state, tokens in self._decode_tokens(states, rows, should_stop, on_step)
        ]

    def _outcome(self, state: _State) -> PlanOutcome:
        if state.error is not None:
            return PlanOutcome(None, state.error, state.tokens, state.seconds)
        metadata = dataclasses.replace(state.metadata, caption=state.thought_caption, duration=state.request.seconds)
        plan = Plan(metadata=metadata, lyrics=state.written_lyrics, codes=state.codes)
        return PlanOutcome(plan, None, state.tokens, state.seconds)


_OnStep = Callable[[int], None] | None


class _PlanProgress:
    """Planning's progress: each phase owns a share of the bar in proportion to its expected steps."""

    def __init__(self, callback: PlanProgressCallback | None, expected: tuple[int, ...]) -> None:
        self._callback = callback
        self._expected = expected
        self._total = sum(expected)
        self._last = 0.0

    def phase(self, index: int) -> _OnStep:
        """The step callback of phase ``index`` (``None`` when nobody listens or nothing is expected)."""
        if self._callback is None or not self._expected[index]:
            return None
        start = sum(self._expected[:index])
        expected = self._expected[index]
        return lambda steps: self._report((start + min(steps, expected)) / self._total)

    def _report(self, value: float) -> None:
        value = min(value, 0.999)
        if self._callback is not None and value > self._last:
            self._last = value
            self._callback(value)


def _has_all(metadata: Metadata) -> bool:
    return None not in (metadata.bpm, metadata.key_scale, metadata.time_signature)


def _merge(given: Metadata, written: Metadata) -> Metadata:
    """What the user gave wins; the LM fills the rest."""
    return Metadata(
        bpm=given.bpm if given.bpm is not None else written.bpm,
        caption=written.caption,
        key_scale=given.key_scale or written.key_scale,
        language=given.language or written.language,
        time_signature=given.time_signature if given.time_signature is not None else written.time_signature,
    )


def _seed(seed: int, phase: int) -> int:
    return (int(seed) + phase) % (MAX_SEED + 1)

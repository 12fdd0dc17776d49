"""Text conditioning, encoded one request at a time, and the cross-attention mask that batches it.

Why one at a time: ``AceStepPipeline.encode_prompt`` pads a batch to its longest prompt and the DiT's
cross-attention has no padding mask, so a prompt's result depends on its batch-mates there.
Here every request is encoded alone, at its own length, exactly as a solo pipeline call would; a
batch then pads the encoded sequences to a common length and passes a key-padding mask to every
cross-attention layer (``KeyPaddingAttnProcessor``), so padded positions get zero attention weight
and each item's result matches its solo run to float rounding.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from diffusers.models.transformers.ace_step_transformer import AceStepAttnProcessor2_0
from diffusers.pipelines.ace_step.pipeline_ace_step import TASK_INSTRUCTIONS

from aceserve.engine.plan import TextCondition

TIMBRE_SECONDS = 30  # the pipeline feeds 30 s of the silence latent to the timbre encoder


def instruction_for(pipeline_task: str) -> str:
    """The DiT instruction ACE-Step 1.5 was trained with for ``text2music``, ``cover`` or ``repaint``."""
    return TASK_INSTRUCTIONS[pipeline_task]


@dataclass(frozen=True)
class Cond:
    """Encoded conditions for a batch: ``hidden`` ``(B, L, H)``; ``mask`` ``(B, L)`` bool or None."""

    hidden: torch.Tensor
    mask: torch.Tensor | None = None

    @property
    def batch(self) -> int:
        return int(self.hidden.shape[0])

    @property
    def width(self) -> int:
        return int(self.hidden.shape[1])

    def full_mask(self) -> torch.Tensor:
        if self.mask is not None:
            return self.mask
        return torch.ones((self.batch, self.width), dtype=torch.bool, device=self.hidden.device)


def encode_condition(
    pipe: Any, condition: TextCondition, *, instruction: str, seconds: float, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """Encode one caption + lyrics through the text and condition encoders: ``(1, L, H)``, no padding."""
    text, text_mask, lyrics, lyrics_mask = pipe.encode_prompt(
        prompt=[condition.caption],
        lyrics=[condition.lyrics],
        device=device,
        vocal_language=[condition.language],
        audio_duration=seconds,
        instruction=instruction,
        bpm=condition.bpm,
        keyscale=condition.key_scale,
        timesignature=None if condition.time_signature is None else str(condition.time_signature),
    )
    encoder = pipe.condition_encoder
    frames = math.ceil(TIMBRE_SECONDS * pipe.latents_per_second)
    timbre = encoder.silence_latent[:, :frames, :].to(device=device, dtype=dtype)
    hidden, mask = encoder(
        text_hidden_states=text.to(dtype),
        text_attention_mask=text_mask,
        lyric_hidden_states=lyrics.to(dtype),
        lyric_attention_mask=lyrics_mask,
        refer_audio_acoustic_hidden_states_packed=timbre,
        refer_audio_order_mask=torch.zeros(1, device=device, dtype=torch.long),
    )
    valid = int(mask[0].sum())
    result: torch.Tensor = hidden[:, :valid]
    return result


def null_condition(pipe: Any, like: torch.Tensor) -> torch.Tensor:
    """The learned unconditional embedding, broadcast to ``like``'s shape (what the pipeline uses for CFG)."""
    null = getattr(pipe.condition_encoder, "null_condition_emb", None)
    if null is None:
        raise RuntimeError("This checkpoint's condition encoder has no `null_condition_emb`; it cannot run CFG.")
    result: torch.Tensor = null.to(device=like.device, dtype=like.dtype).expand_as(like)
    return result


def stack(items: list[torch.Tensor]) -> Cond:
    """Pad ``(1, L_i, H)`` sequences to a batch; the mask is None when all lengths agree."""
    longest = max(int(x.shape[1]) for x in items)
    if all(int(x.shape[1]) == longest for x in items):
        return Cond(torch.cat(items, dim=0))
    hidden = items[0].new_zeros((len(items), longest, int(items[0].shape[2])))
    mask = torch.zeros((len(items), longest), dtype=torch.bool, device=items[0].device)
    for i, x in enumerate(items):
        hidden[i, : x.shape[1]] = x[0]
        mask[i, : x.shape[1]] = True
    return Cond(hidden, mask)


def widen(cond: Cond, width: int, *, masked: bool = False) -> Cond:
    """Pad ``cond`` with masked-out positions to ``width``; ``masked`` forces an explicit mask."""
    if cond.width == width and (cond.mask is not None or not masked):
        return cond
    extra = width - cond.width
    hidden = torch.nn.functional.pad(cond.hidden, (0, 0, 0, extra))
    mask = torch.nn.functional.pad(cond.full_mask(), (0, extra), value=False)
    return Cond(hidden, mask)


def align(first: Cond, second: Cond) -> tuple[Cond, Cond]:
    """Give two batches the same width and masking, so row i is computed alike in both."""
    width = max(first.width, second.width)
    masked = first.mask is not None or second.mask is not None or first.width != second.width
    return widen(first, width, masked=masked), widen(second, width, masked=masked)


def concat(first: Cond, second: Cond) -> Cond:
    """Join two batches along the batch axis (e.g. conditional and unconditional halves)."""
    a, b = align(first, second)
    hidden = torch.cat([a.hidden, b.hidden])
    if a.mask is None or b.mask is None:
        return Cond(hidden)
    return Cond(hidden, torch.cat([a.mask, b.mask]))


class KeyPaddingAttnProcessor(AceStepAttnProcessor2_0):
    """The stock ACE-Step attention processor, plus a key-padding mask for cross-attention."""

    def __init__(self) -> None:
        super().__init__()
        self.key_mask: torch.Tensor | None = None

    def __call__(
        self,
        attn: Any,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        image_rotary_emb: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        if attention_mask is None and encoder_hidden_states is not None:
            attention_mask = self.key_mask
        return super().__call__(attn, hidden_states, encoder_hidden_states, attention_mask, image_rotary_emb)


class CrossAttentionMask:
    """Installs ``KeyPaddingAttnProcessor`` on every cross-attention layer of a DiT."""

    def __init__(self, transformer: Any) -> None:
        self._processors: list[KeyPaddingAttnProcessor] = []
        for block in transformer.layers:
            cross = getattr(block, "cross_attn", None)
            if cross is None:
                continue
            processor = KeyPaddingAttnProcessor()
            processor._attention_backend = getattr(cross.processor, "_attention_backend", None)
            processor._parallel_config = getattr(cross.processor, "_parallel_config", None)
            cross.set_processor(processor)
            self._processors.append(processor)

    @contextmanager
    def applied(self, mask: torch.Tensor | None) -> Iterator[None]:
        for processor in self._processors:
            processor.key_mask = mask
        try:
            yield
        finally:
            for processor in self._processors:
                processor.key_mask = None

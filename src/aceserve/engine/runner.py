"""One batch of compatible jobs through the pipeline's parts: prepare, denoise, decode, cut.

Every per-item input is built from that item alone: its own ``torch.Generator`` (CPU, seeded with the
request's seed; it draws the VAE posterior sample of the source first, then the noise), its own
conditions encoded at their own length, its own VAE encode and decode. Only the DiT runs batched,
with key-padding masks on cross-attention, so an item's audio does not depend on its batch-mates.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, assert_never

import numpy as np
import torch

from aceserve.domain.errors import TaskInputError
from aceserve.domain.states import TaskType
from aceserve.engine.audio import normalize_peak, splice_extension
from aceserve.engine.conditioning import (
    CrossAttentionMask,
    encode_condition,
    instruction_for,
    null_condition,
    stack,
)
from aceserve.engine.plan import Geometry, Job, TextCondition
from aceserve.engine.sampler import Blend, Denoiser, Guidance, Keep, StepCallback, flow_edit, sample, sigma_schedule
from aceserve.engine.types import Audio

PIPELINE_TASK = {
    TaskType.TXT2AUDIO: "text2music",
    TaskType.AUDIO2AUDIO: "cover",
    TaskType.EDIT: "text2music",  # FlowEdit runs the text2music velocity under two conditions
    TaskType.EXTEND: "repaint",
}


@dataclass
class _Item:
    generator: torch.Generator
    context: torch.Tensor  # (1, T, 2D) model dtype
    cond: torch.Tensor  # (1, L, H)
    uncond: torch.Tensor | None = None
    noise: torch.Tensor | None = None  # (1, T, D) float32
    source: torch.Tensor | None = None  # (1, T, D) float32, the source latents in place
    keep: torch.Tensor | None = None  # (1, T, 1) bool
    blend: torch.Tensor | None = None  # text2music condition for cover blending
    target: torch.Tensor | None = None  # FlowEdit target condition


def steps_to_run(job: Job) -> int:
    """Denoising steps the job's batch runs (FlowEdit skips the first ``n_min``)."""
    return job.steps - job.edit_window[0] if job.task is TaskType.EDIT else job.steps


class PipelineRunner:
    def __init__(self, pipe: Any, geometry: Geometry) -> None:
        self.pipe = pipe
        self.geometry = geometry
        self.masks = CrossAttentionMask(pipe.transformer)

    @property
    def device(self) -> torch.device:
        return torch.device(self.pipe._execution_device)

    @property
    def dtype(self) -> torch.dtype:
        dtype: torch.dtype = self.pipe.transformer.dtype
        return dtype

    def denoise(self, jobs: list[Job], callback: StepCallback | None = None) -> torch.Tensor | None:
        """Final latents ``(B, T, D)`` float32 for a batch of compatible jobs; None when interrupted."""
        items = [self.prepare(job) for job in jobs]
        first = jobs[0]
        den = Denoiser(self.pipe, self.masks, self.device)
        sigmas = sigma_schedule(first.steps, first.sampling.shift).to(self.device)
        context = torch.cat([it.context for it in items])
        cond = stack([it.cond for it in items])
        guidance = Guidance()
        if first.sampling.guidance > 1.0:
            guidance = Guidance(stack([it.uncond for it in items if it.uncond is not None]), first.sampling.guidance)
        if first.task is TaskType.EDIT:
            source = torch.cat([it.source for it in items if it.source is not None])
            target = stack([it.target for it in items if it.target is not None])

            def fresh_noise() -> torch.Tensor:
                return torch.cat([self._noise(it.generator, source.shape[1]) for it in items])

            return flow_edit(
                den,
                source,
                context,
                cond,
                target,
                sigmas=sigmas,
                window=first.edit_window,
                guidance=guidance,
                fresh_noise=fresh_noise,
                callback=callback,
            )
        noise = torch.cat([it.noise for it in items if it.noise is not None])
        blend = None
        if first.task is TaskType.AUDIO2AUDIO and first.cover_strength < 1.0:
            strength = torch.tensor([job.cover_strength for job in jobs], device=self.device).view(-1, 1, 1)
            blend = Blend(stack([it.blend for it in items if it.blend is not None]), strength)
        keep = None
        if first.task is TaskType.EXTEND:
            keep = Keep(
                mask=torch.cat([it.keep for it in items if it.keep is not None]),
                source=torch.cat([it.source for it in items if it.source is not None]),
                noise=noise,
            )
        return sample(
            den, noise, context, cond, sigmas=sigmas, guidance=guidance, blend=blend, keep=keep, callback=callback
        )

    def prepare(self, job: Job) -> _Item:
        """Everything one job needs, built from that job alone."""
        generator = torch.Generator(device="cpu").manual_seed(int(job.request.seed))
        task = job.task
        instruction = instruction_for("cover" if job.codes else PIPELINE_TASK[task])  # codes: as upstream
        silence = self._silence(job.frames)
        ones = torch.ones_like(silence)
        item = _Item(
            generator=generator,
            context=torch.cat([silence, ones], -1),
            cond=self._encode(job.condition, instruction, job),
        )
        if task is TaskType.TXT2AUDIO:
            if job.codes:  # planned: the LM's 5 Hz codes condition the DiT as a cover's source does
                item.context = torch.cat([self._from_codes(job), ones], -1)
            item.noise = self._noise(generator, job.frames)
        elif task is TaskType.AUDIO2AUDIO:
            latents = self._encode_audio(job, generator)
            item.context = torch.cat([self._semantic(latents, job.frames), ones], -1)
            item.noise = self._noise(generator, job.frames)
            if job.cover_strength < 1.0:
                item.blend = self._encode(job.condition, instruction_for("text2music"), job)
        elif task is TaskType.EDIT:
            item.source = self._encode_audio(job, generator)[:, : job.frames]
            assert job.edit_target is not None
            item.target = self._encode(job.edit_target, instruction, job)
        elif task is TaskType.EXTEND:
            latents = self._encode_audio(job, generator)
            start = job.left_frames
            placed = silence.float().clone()
            placed[:, start : start + latents.shape[1]] = latents
            keep = torch.zeros((1, job.frames, 1), dtype=torch.bool, device=self.device)
            keep[:, start : start + job.source_frames] = True
            item.context = torch.cat(
                [torch.where(keep, placed.to(self.dtype), silence), (~keep).expand_as(silence).to(self.dtype)], -1
            )
            item.source, item.keep = placed, keep
            item.noise = self._noise(generator, job.frames)
        else:
            assert_never(task)
        if job.sampling.guidance > 1.0:
            negative = job.sampling.negative
            if negative is None:
                item.uncond = null_condition(self.pipe, item.cond)
            else:
                item.uncond = self._encode(dataclasses.replace(job.condition, caption=negative), instruction, job)
        return item

    def decode(self, latents: torch.Tensor) -> Audio:
        """VAE-decode one item's latents ``(1, T, D)`` to float32 ``(2, T * hop)``."""
        vae = self.pipe.vae
        audio = vae.decode(latents.transpose(1, 2).to(device=self.device, dtype=vae.dtype)).sample
        return np.ascontiguousarray(audio[0].float().cpu().numpy(), dtype=np.float32)

    def finish(self, job: Job, decoded: Audio) -> Audio:
        """Cut the decoded audio to the job's output: trimmed and normalized, or spliced (extend)."""
        if job.task is TaskType.EXTEND:
            assert job.source is not None
            return splice_extension(
                decoded,
                job.source[:, : job.input_samples],
                source_offset=job.left_frames * self.geometry.hop_length,
                left=job.left_samples,
                right=job.right_samples,
            )
        return normalize_peak(np.ascontiguousarray(decoded[:, : job.out_samples]))

    # -- helpers -----------------------------------------------------------------------------

    def _noise(self, generator: torch.Generator, frames: int) -> torch.Tensor:
        channels = int(self.pipe.transformer.config.audio_acoustic_hidden_dim)
        noise = torch.randn((1, frames, channels), generator=generator, dtype=torch.float32)
        return noise.to(self.device)

    def _silence(self, frames: int) -> torch.Tensor:
        silence: torch.Tensor
        silence, _ = self.pipe.prepare_src_latents(
            device=self.device, dtype=self.dtype, batch_size=1, latent_length=frames
        )
        return silence

    def _encode(self, condition: TextCondition, instruction: str, job: Job) -> torch.Tensor:
        return encode_condition(
            self.pipe,
            condition,
            instruction=instruction,
            seconds=job.metas_seconds,
            device=self.device,
            dtype=self.dtype,
        )

    def _encode_audio(self, job: Job, generator: torch.Generator) -> torch.Tensor:
        """VAE posterior sample of the job's source audio, ``(1, T_src, D)`` float32."""
        assert job.source is not None
        vae = self.pipe.vae
        audio = torch.from_numpy(job.source).unsqueeze(0).to(device=self.device, dtype=vae.dtype)
        latents: torch.Tensor = vae.encode(audio).latent_dist.sample(generator=generator)
        return latents.transpose(1, 2).float()

    def _from_codes(self, job: Job) -> torch.Tensor:
        """The planner's audio codes through the pipeline's quantizer and detokenizer, cropped to the job."""
        text = "".join(f"<|audio_code_{code}|>" for code in job.codes)
        latents, _ = self.pipe.prepare_src_latents(device=self.device, dtype=self.dtype, batch_size=1, audio_codes=text)
        semantic: torch.Tensor = latents[:, : job.frames].to(self.dtype)
        return semantic

    def _semantic(self, latents: torch.Tensor, frames: int) -> torch.Tensor:
        """Cover conditioning: source latents through the audio tokenizer and back (5 Hz codes)."""
        tokenizer = getattr(self.pipe, "audio_tokenizer", None)
        detokenizer = getattr(self.pipe, "audio_token_detokenizer", None)
        if tokenizer is None or detokenizer is None:
            raise TaskInputError(
                "This checkpoint has no audio tokenizer/detokenizer, which audio2audio (cover) needs; "
                "load a checkpoint converted with them."
            )
        silence = self.pipe.condition_encoder.silence_latent.to(device=self.device, dtype=self.dtype)
        quantized, _ = tokenizer.tokenize(latents.to(self.dtype), silence)
        semantic: torch.Tensor = detokenizer(quantized.to(self.dtype))
        return semantic.to(self.dtype)[:, :frames]

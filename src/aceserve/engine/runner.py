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
from aceserve.engine.plan import (
    REPAINT_CROSSFADE_FRAMES,
    REPAINT_INJECTION_RATIO,
    EditMode,
    Geometry,
    Job,
    TextCondition,
)
from aceserve.engine.repaint import blend_boundary, section_mask, splice_section
from aceserve.engine.sampler import (
    Conditions,
    Denoiser,
    Guidance,
    Keep,
    Phase,
    StepCallback,
    flow_edit,
    renoise,
    sample,
    sigma_schedule,
)
from aceserve.engine.types import Audio

PIPELINE_TASK = {
    TaskType.TXT2AUDIO: "text2music",
    TaskType.AUDIO2AUDIO: "cover",
    TaskType.EDIT: "text2music",  # FlowEdit runs the text2music velocity under two conditions
    TaskType.EXTEND: "repaint",
}
EDIT_PIPELINE_TASK = {EditMode.FLOWEDIT: "text2music", EditMode.COVER: "cover", EditMode.REPAINT: "repaint"}


def pipeline_task(job: Job) -> str:
    """The ACE-Step task (and so the DiT instruction) a job runs."""
    if job.task is TaskType.TXT2AUDIO and job.codes:
        return "cover"  # planned: rendered from the LM's audio codes
    return EDIT_PIPELINE_TASK[job.edit_mode] if job.task is TaskType.EDIT else PIPELINE_TASK[job.task]


@dataclass
class _Item:
    generator: torch.Generator
    phases: list[Phase]
    noise: torch.Tensor | None = None  # (1, T, D) float32
    source: torch.Tensor | None = None  # (1, T, D) float32, the source latents in place
    keep: torch.Tensor | None = None  # (1, T, 1) bool: frames that follow the source's noising path
    target: torch.Tensor | None = None  # FlowEdit target condition


def steps_to_run(job: Job) -> int:
    """Denoising steps the job's batch runs (FlowEdit skips the first ``n_min``; a noised start skips more)."""
    if job.task is TaskType.EDIT and job.edit_mode == EditMode.FLOWEDIT:
        return job.steps - job.edit_window[0]
    return job.steps - job.start_step


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
        if first.task is TaskType.EDIT and first.edit_mode == EditMode.FLOWEDIT:
            return self._flow_edit(den, jobs, items, sigmas, callback)
        noise = torch.cat([it.noise for it in items if it.noise is not None])
        x = noise
        if first.start_step > 0:  # start from the source noised to the first step's level (upstream's renoise)
            sources = torch.cat([it.source for it in items if it.source is not None])
            x = renoise(sources, sigmas[first.start_step], noise)
        keep = None
        if first.task is TaskType.EXTEND or first.edit_mode == EditMode.REPAINT:
            until = first.steps if first.task is TaskType.EXTEND else round(REPAINT_INJECTION_RATIO * first.steps)
            keep = Keep(
                mask=torch.cat([it.keep for it in items if it.keep is not None]),
                source=torch.cat([it.source for it in items if it.source is not None]),
                noise=noise,
                until=until,
            )
        conditions = Conditions([it.phases for it in items], first.sampling.guidance)
        latents = sample(den, x, conditions, sigmas=sigmas, start=first.start_step, keep=keep, callback=callback)
        if latents is not None and keep is not None and first.task is TaskType.EDIT:
            latents = blend_boundary(latents, keep.source, keep.mask, REPAINT_CROSSFADE_FRAMES)
        return latents

    def _flow_edit(
        self,
        den: Denoiser,
        jobs: list[Job],
        items: list[_Item],
        sigmas: torch.Tensor,
        callback: StepCallback | None,
    ) -> torch.Tensor | None:
        first = jobs[0]
        phases = [it.phases[0] for it in items]
        source = torch.cat([it.source for it in items if it.source is not None])
        guidance = Guidance()
        if first.sampling.guidance > 1.0:
            guidance = Guidance(stack([p.uncond for p in phases if p.uncond is not None]), first.sampling.guidance)

        def fresh_noise() -> torch.Tensor:
            return torch.cat([self._noise(it.generator, source.shape[1]) for it in items])

        return flow_edit(
            den,
            source,
            torch.cat([p.context for p in phases]),
            stack([p.cond for p in phases]),
            stack([it.target for it in items if it.target is not None]),
            sigmas=sigmas,
            window=first.edit_window,
            guidance=guidance,
            fresh_noise=fresh_noise,
            n_avg=first.edit_n_avg,
            callback=callback,
        )

    def prepare(self, job: Job) -> _Item:
        """Everything one job needs, built from that job alone."""
        generator = torch.Generator(device="cpu").manual_seed(int(job.request.seed))
        task = job.task
        silence = self._silence(job.frames)
        ones = torch.ones_like(silence)
        text_context = torch.cat([silence, ones], -1)
        steps = job.steps
        if task is TaskType.TXT2AUDIO:
            if job.codes:  # planned: the LM's 5 Hz codes condition the DiT as a cover's source (as upstream)
                codes_context = torch.cat([self._from_codes(job), ones], -1)
                phases = [self._phase(job, "cover", job.condition, codes_context, steps)]
            else:
                phases = [self._phase(job, "text2music", job.condition, text_context, steps)]
            return _Item(generator, phases, noise=self._noise(generator, job.frames))
        if task is TaskType.AUDIO2AUDIO or (task is TaskType.EDIT and job.edit_mode == EditMode.COVER):
            latents = self._encode_audio(job, generator)[:, : job.frames]
            cover_context = torch.cat([self._semantic(latents, job.frames), ones], -1)
            switch = job.start_step + job.cover_steps
            phases = [self._phase(job, "cover", job.condition, cover_context, switch)]
            if switch < steps:  # the rest runs as text2music from silence, as upstream switches
                phases.append(self._phase(job, "text2music", job.condition, text_context, steps))
            return _Item(generator, phases, noise=self._noise(generator, job.frames), source=latents)
        if task is TaskType.EDIT and job.edit_mode == EditMode.FLOWEDIT:
            latents = self._encode_audio(job, generator)[:, : job.frames]
            assert job.edit_target is not None
            phases = [self._phase(job, "text2music", job.condition, text_context, steps)]
            target = self._encode(job.edit_target, instruction_for("text2music"), job)
            return _Item(generator, phases, source=latents, target=target)
        if task is TaskType.EDIT:  # repaint one section
            latents = self._encode_audio(job, generator)[:, : job.frames]
            generate = section_mask(job.frames, job.repaint_frames, self.device)
            context = torch.cat(
                [torch.where(generate, silence, latents.to(self.dtype)), generate.expand_as(silence).to(self.dtype)],
                -1,
            )
            phases = [self._phase(job, "repaint", job.condition, context, steps)]
            noise = self._noise(generator, job.frames)
            return _Item(generator, phases, noise=noise, source=latents, keep=~generate)
        if task is TaskType.EXTEND:
            latents = self._encode_audio(job, generator)
            start = job.left_frames
            placed = silence.float().clone()
            placed[:, start : start + latents.shape[1]] = latents
            keep = torch.zeros((1, job.frames, 1), dtype=torch.bool, device=self.device)
            keep[:, start : start + job.source_frames] = True
            context = torch.cat(
                [torch.where(keep, placed.to(self.dtype), silence), (~keep).expand_as(silence).to(self.dtype)], -1
            )
            phases = [self._phase(job, "repaint", job.condition, context, steps)]
            return _Item(generator, phases, noise=self._noise(generator, job.frames), source=placed, keep=keep)
        assert_never(task)

    def _phase(self, job: Job, pipeline: str, condition: TextCondition, context: torch.Tensor, until: int) -> Phase:
        """The condition (and its unconditional twin under CFG) for one ACE-Step task instruction."""
        instruction = instruction_for(pipeline)
        cond = self._encode(condition, instruction, job)
        uncond = None
        if job.sampling.guidance > 1.0:
            negative = job.sampling.negative
            if negative is None:
                uncond = null_condition(self.pipe, cond)
            else:
                uncond = self._encode(dataclasses.replace(condition, caption=negative), instruction, job)
        return Phase(until=until, cond=cond, context=context, uncond=uncond)

    def decode(self, latents: torch.Tensor) -> Audio:
        """VAE-decode one item's latents ``(1, T, D)`` to float32 ``(2, T * hop)``."""
        vae = self.pipe.vae
        audio = vae.decode(latents.transpose(1, 2).to(device=self.device, dtype=vae.dtype)).sample
        return np.ascontiguousarray(audio[0].float().cpu().numpy(), dtype=np.float32)

    def finish(self, job: Job, decoded: Audio) -> Audio:
        """Cut the decoded audio to the job's output: trimmed and normalized, or spliced (extend)."""
        if job.task is TaskType.EDIT and job.edit_mode == EditMode.REPAINT:
            assert job.source is not None
            return splice_section(decoded, job.source[:, : job.input_samples], job.repaint_samples)
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

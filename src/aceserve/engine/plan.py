"""From a ``GenerationRequest`` to a checked, fully resolved ``Job``; and the batch key.

Torch-free: everything here is decided before any tensor is allocated, so bad input fails fast
with a ``TaskInputError`` whose message names the field and shows the value. The bounds checked
are the task input's (``aceserve.domain.inputs_models``): a request that reaches the engine
without passing through it (benchmarks, tests) is held to the same rules.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, replace
from typing import Any, assert_never

from aceserve.domain.errors import TaskInputError
from aceserve.domain.inputs_models import (
    DEFAULT_DURATION_SECONDS,
    MAX_EDIT_N_AVG,
    MAX_GUIDANCE_SCALE,
    MAX_INFER_STEPS,
    MAX_LORA_SCALE,
    MAX_SEED,
    MIN_DURATION_SECONDS,
)
from aceserve.domain.music import KEY_SCALES, MAX_BPM, MIN_BPM, TIME_SIGNATURES, VOCAL_LANGUAGES
from aceserve.domain.states import TaskType
from aceserve.engine.audio import (
    MAX_OUTPUT_SAMPLES,
    fit_length,
    pad_to,
    prepare_input_audio,
    seconds_to_samples,
)
from aceserve.engine.types import MAX_OUTPUT_SECONDS, SAMPLE_RATE, Audio, GenerationRequest
from aceserve.engine.variants import VariantDefaults

MODEL_MIN_SECONDS = 10.0
"""ACE-Step 1.5 generates 10 to 600 s; a shorter txt2audio is generated at 10 s and cut."""
INSTRUMENTAL_TAGS = ("", "[inst]", "[instrumental]")
MODEL_INSTRUMENTAL_LYRICS = "[Instrumental]"  # what ACE-Step 1.5 writes for an instrumental song
VOCAL_LANGUAGE = "unknown"  # ACE-Step 1.5's value when the language is not given


@dataclass(frozen=True)
class Geometry:
    """How the checkpoint's VAE maps samples to latent frames."""

    sample_rate: int
    hop_length: int

    def frames_for(self, samples: int) -> int:
        return -(-samples // self.hop_length)


@dataclass(frozen=True)
class TextCondition:
    caption: str
    lyrics: str
    language: str
    bpm: int | None = None  # None: "N/A" in the prompt's metadata
    key_scale: str | None = None
    time_signature: int | None = None


@dataclass(frozen=True)
class Sampling:
    steps: int
    guidance: float  # effective guidance; 1.0 means no CFG
    shift: float
    negative: str | None  # caption of the unconditional branch; None: the learned null embedding


class EditMode:
    """How an ``edit`` task runs (``Job.edit_mode``)."""

    FLOWEDIT = "flowedit"  # base/sft: FlowEdit between the source and target conditions
    COVER = "cover"  # turbo: cover of the source under the target condition, from the edit window's start
    REPAINT = "repaint"  # repaint_start/repaint_end: regenerate one section, keep the rest


REPAINT_INJECTION_RATIO = 0.5  # upstream: outside the span, follow the source's noising path for half the steps
REPAINT_CROSSFADE_FRAMES = 10  # upstream: latent frames of the boundary blend on each side of the span


def schedule(steps: int, shift: float) -> list[float]:
    """The shifted noise levels ``t_0 = 1 > ... > t_N = 0`` as Python floats (``sampler.sigma_schedule``
    makes the float32 tensor the loop uses)."""
    levels = [1.0 - i / steps for i in range(steps + 1)]
    if shift != 1.0:
        levels = [shift * t / (1 + (shift - 1) * t) for t in levels]
    return levels


def nearest_step(steps: int, shift: float, noise_level: float) -> int:
    """Index of the step whose noise level is nearest ``noise_level`` (the first of equals), as upstream's
    ``cover_noise_strength`` picks where the schedule starts."""
    levels = schedule(steps, shift)[:-1]
    return min(range(len(levels)), key=lambda i: abs(levels[i] - noise_level))


@dataclass(frozen=True)
class Job:
    """One request, resolved: what the sampler runs and how the output is cut."""

    request: GenerationRequest
    sampling: Sampling
    frames: int  # latent frames the DiT denoises
    out_samples: int
    condition: TextCondition
    metas_seconds: float  # the duration written into the prompt's metadata
    source: Audio | None = None  # input audio, fitted and padded to a whole number of latent frames
    cover_strength: float = 1.0
    start_step: int = 0  # first step run: > 0 starts from the source noised to that step's level
    cover_steps: int = 0  # audio2audio: steps (counted from start_step) under the cover condition
    edit_mode: str = ""  # edit: an ``EditMode`` value
    edit_target: TextCondition | None = None
    edit_window: tuple[int, int] = (0, 0)  # FlowEdit step indices [n_min, n_max)
    edit_fractions: tuple[float, float] = (0.0, 0.0)  # edit_n_min, edit_n_max as resolved
    edit_n_avg: int = 1
    repaint_samples: tuple[int, int] = (0, 0)  # repaint: the span regenerated, in samples [start, end)
    repaint_frames: tuple[int, int] = (0, 0)  # repaint: latent frames masked for generation [start, end)
    lora: str = ""
    lora_scale: float = 1.0
    notes: tuple[str, ...] = ()  # lines for the task's logs: what runs differently from what was asked
    left_frames: int = 0  # extend: generated frames before the source
    source_frames: int = 0  # extend: frames holding the source
    left_samples: int = 0
    right_samples: int = 0
    input_samples: int = 0  # extend/edit: length of the original input audio
    codes: tuple[int, ...] = ()  # txt2audio: the planner's 5 Hz audio codes (engine/planning.py)

    @property
    def task(self) -> TaskType:
        return self.request.task_type

    @property
    def steps(self) -> int:
        return self.sampling.steps

    @property
    def adapter(self) -> tuple[str, float]:
        """The adapter and scale the DiT runs with; ``("", 0.0)`` for the base model."""
        return (self.lora, self.lora_scale) if self.lora and self.lora_scale > 0 else ("", 0.0)

    def batch_key(self) -> str:
        s = self.sampling
        parts = [str(self.task), f"frames={self.frames}", f"steps={s.steps}", f"guidance={s.guidance!r}"]
        parts += [f"shift={s.shift!r}", f"start={self.start_step}"]
        if self.task is TaskType.EDIT:
            parts.append(f"mode={self.edit_mode}")
            if self.edit_mode == EditMode.FLOWEDIT:
                parts += [f"window={self.edit_window[0]}-{self.edit_window[1]}", f"n_avg={self.edit_n_avg}"]
        name, scale = self.adapter
        if name:
            parts.append(f"lora={name}@{scale!r}")
        return ";".join(parts)


def is_instrumental(lyrics: str) -> bool:
    return lyrics.strip().lower() in INSTRUMENTAL_TAGS


def text_condition(caption: str, lyrics: str, request: GenerationRequest | None = None) -> TextCondition:
    """``[inst]``, ``[instrumental]`` or empty lyrics become ACE-Step 1.5's instrumental form; the
    request's musical metadata (bpm, key, time signature, vocal language) goes with it."""
    if is_instrumental(lyrics):
        lyrics = MODEL_INSTRUMENTAL_LYRICS
    if request is None:
        return TextCondition(caption=caption, lyrics=lyrics, language=VOCAL_LANGUAGE)
    return TextCondition(
        caption=caption,
        lyrics=lyrics,
        language=request.vocal_language or VOCAL_LANGUAGE,
        bpm=request.bpm,
        key_scale=request.key_scale,
        time_signature=request.time_signature,
    )


def _fraction(value: float, field: str) -> float:
    result = float(value)
    if not 0.0 <= result <= 1.0:
        raise TaskInputError(f"`{field}` must be between 0 and 1, got {value!r}.")
    return result


def _duration(value: float | None, field: str) -> int:
    if value is None or not math.isfinite(value) or not MIN_DURATION_SECONDS <= value <= MAX_OUTPUT_SECONDS:
        raise TaskInputError(
            f"`{field}` must be from {MIN_DURATION_SECONDS} to {MAX_OUTPUT_SECONDS:.0f} seconds, got {value!r}."
        )
    return seconds_to_samples(value)


def _sampling(request: GenerationRequest, variant: VariantDefaults) -> tuple[Sampling, tuple[str, ...]]:
    if not isinstance(request.task_type, TaskType):
        raise TaskInputError(f"`task_type` must be one of {[t.value for t in TaskType]}, got {request.task_type!r}.")
    seed = request.seed
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= int(seed) <= MAX_SEED:
        raise TaskInputError(f"`seed` must be an integer from 0 to {MAX_SEED}, got {request.seed!r}.")
    steps = variant.steps if request.infer_steps is None else request.infer_steps
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_INFER_STEPS:
        raise TaskInputError(
            f"`infer_steps` must be an integer from 1 to {MAX_INFER_STEPS}, got {request.infer_steps!r}."
        )
    notes: tuple[str, ...] = ()
    if variant.fixed_steps and steps != variant.steps:
        notes = (
            f"`infer_steps` {steps} was ignored: the {variant.name} checkpoint always runs its distilled "
            f"{variant.steps}-step schedule.",
        )
        steps = variant.steps
    guidance = variant.guidance if request.guidance_scale is None else float(request.guidance_scale)
    if not math.isfinite(guidance) or not 0.0 <= guidance <= MAX_GUIDANCE_SCALE:
        raise TaskInputError(
            f"`guidance_scale` must be from 0 to {MAX_GUIDANCE_SCALE:g}, got {request.guidance_scale!r}."
        )
    if not variant.uses_cfg or guidance <= 1.0:
        guidance = 1.0  # no CFG; on turbo, guidance is distilled into the weights
    negative = (request.negative_style_prompt.strip() or None) if guidance > 1.0 else None
    return Sampling(steps=steps, guidance=guidance, shift=variant.shift, negative=negative), notes


def _adapter(request: GenerationRequest) -> tuple[str, float]:
    scale = float(request.lora_scale)
    if not math.isfinite(scale) or not 0.0 <= scale <= MAX_LORA_SCALE:
        raise TaskInputError(f"`lora_scale` must be from 0 to {MAX_LORA_SCALE:g}, got {request.lora_scale!r}.")
    return request.lora or "", scale


def _check_metadata(request: GenerationRequest) -> None:
    bpm = request.bpm
    if bpm is not None and (isinstance(bpm, bool) or not isinstance(bpm, int) or not MIN_BPM <= bpm <= MAX_BPM):
        raise TaskInputError(f"`bpm` must be an integer from {MIN_BPM} to {MAX_BPM}, got {bpm!r}.")
    if request.key_scale is not None and request.key_scale not in KEY_SCALES:
        raise TaskInputError(f"`key_scale` must be a key such as 'C major' or 'F# minor', got {request.key_scale!r}.")
    if request.time_signature is not None and request.time_signature not in TIME_SIGNATURES:
        raise TaskInputError(f"`time_signature` must be one of {TIME_SIGNATURES}, got {request.time_signature!r}.")
    if request.vocal_language is not None and request.vocal_language not in VOCAL_LANGUAGES:
        raise TaskInputError(f"`vocal_language` must be one of {VOCAL_LANGUAGES}, got {request.vocal_language!r}.")


def plan_job(request: GenerationRequest, variant: VariantDefaults, geometry: Geometry) -> Job:
    """Check ``request`` and resolve every default; raises ``TaskInputError`` on bad input."""
    sampling, notes = _sampling(request, variant)
    _check_metadata(request)
    lora, lora_scale = _adapter(request)
    job = _plan_task(request, variant, geometry, sampling)
    return replace(job, lora=lora, lora_scale=lora_scale, notes=notes + job.notes)


def _plan_task(request: GenerationRequest, variant: VariantDefaults, geometry: Geometry, sampling: Sampling) -> Job:
    condition = text_condition(request.style_prompt, request.lyrics, request)
    hop = geometry.hop_length
    task = request.task_type
    if task is TaskType.TXT2AUDIO:
        duration = DEFAULT_DURATION_SECONDS if request.duration is None else request.duration
        samples = _duration(duration, "duration")
        generated = max(samples, seconds_to_samples(MODEL_MIN_SECONDS))  # cut to `samples` after decoding
        return Job(
            request=request,
            sampling=sampling,
            frames=geometry.frames_for(generated),
            out_samples=samples,
            condition=condition,
            metas_seconds=generated / SAMPLE_RATE,
        )
    if task is TaskType.AUDIO2AUDIO:
        audio = prepare_input_audio(request.audio, "style_audio")
        samples = audio.shape[1] if request.duration is None else _duration(request.duration, "duration")
        frames = geometry.frames_for(samples)
        source = fit_length(audio, samples)
        strength = _fraction(request.audio_cover_strength, "audio_cover_strength")
        noise_strength = _fraction(request.cover_noise_strength, "cover_noise_strength")
        start = nearest_step(sampling.steps, sampling.shift, 1.0 - noise_strength) if noise_strength > 0 else 0
        return Job(
            request=request,
            sampling=sampling,
            frames=frames,
            out_samples=samples,
            condition=condition,
            metas_seconds=samples / SAMPLE_RATE,
            source=pad_to(source, frames * hop),
            cover_strength=strength,
            start_step=start,
            cover_steps=int((sampling.steps - start) * strength),
        )
    if task is TaskType.EDIT:
        return _plan_edit(request, variant, geometry, sampling, condition)
    if task is TaskType.EXTEND:
        return _plan_extend(request, sampling, condition, geometry)
    assert_never(task)


def _plan_edit(
    request: GenerationRequest,
    variant: VariantDefaults,
    geometry: Geometry,
    sampling: Sampling,
    condition: TextCondition,
) -> Job:
    audio = prepare_input_audio(request.audio, "audio")
    hop = geometry.hop_length
    frames = geometry.frames_for(audio.shape[1])
    target = text_condition(request.edit_style_prompt, request.edit_lyrics, request)
    common: dict[str, Any] = {
        "request": request,
        "sampling": sampling,
        "frames": frames,
        "out_samples": audio.shape[1],
        "metas_seconds": audio.shape[1] / SAMPLE_RATE,
        "source": pad_to(audio, frames * hop),
        "input_samples": audio.shape[1],
    }
    if request.repaint_start is not None or request.repaint_end is not None:
        span = repaint_span(request, audio.shape[1], hop)
        return Job(
            condition=target,
            edit_mode=EditMode.REPAINT,
            repaint_samples=span,
            repaint_frames=(span[0] // hop, -(-span[1] // hop)),
            **common,
        )
    n_min = _fraction(request.edit_n_min, "edit_n_min")
    n_max = _fraction(request.edit_n_max, "edit_n_max")
    if n_min >= n_max:
        raise TaskInputError(f"`edit_n_min` ({n_min}) must be smaller than `edit_n_max` ({n_max}).")
    window = (_step_index(sampling.steps, n_min), _step_index(sampling.steps, n_max))
    if not variant.uses_cfg:
        # Upstream offers FlowEdit on base and sft only; turbo's faithful path is a cover.
        return Job(
            condition=target,
            edit_mode=EditMode.COVER,
            edit_fractions=(n_min, n_max),
            start_step=window[0],
            cover_steps=sampling.steps - window[0],
            notes=(
                f"edit on the {variant.name} checkpoint runs as a cover (ACE-Step 1.5 offers FlowEdit on base "
                f"and sft only): the input audio noised to step {window[0]} of {sampling.steps} "
                f"(`edit_n_min` {n_min:g}) is regenerated under `edit_style_prompt` and `edit_lyrics`; "
                "`edit_n_max` and `edit_n_avg` do not apply.",
            ),
            **common,
        )
    n_avg = request.edit_n_avg
    if isinstance(n_avg, bool) or not isinstance(n_avg, int) or not 1 <= n_avg <= MAX_EDIT_N_AVG:
        raise TaskInputError(f"`edit_n_avg` must be an integer from 1 to {MAX_EDIT_N_AVG}, got {n_avg!r}.")
    return Job(
        condition=condition,
        edit_mode=EditMode.FLOWEDIT,
        edit_target=target,
        edit_window=window,
        edit_fractions=(n_min, n_max),
        edit_n_avg=n_avg,
        **common,
    )


def repaint_span(request: GenerationRequest, samples: int, hop: int) -> tuple[int, int]:
    """The repaint span in samples, checked: within the audio and at least one latent frame long."""
    for field in ("repaint_start", "repaint_end"):
        value = getattr(request, field)
        if value is not None and (not math.isfinite(value) or value < 0):
            raise TaskInputError(f"`{field}` must be 0 or more seconds, got {value!r}.")
    start = 0 if request.repaint_start is None else seconds_to_samples(request.repaint_start)
    end = samples if request.repaint_end is None else seconds_to_samples(request.repaint_end)
    if end > samples:
        raise TaskInputError(
            f"`repaint_end` ({request.repaint_end!r} s) must be within the input audio, which is "
            f"{samples / SAMPLE_RATE:.3f} s long."
        )
    if end - start < hop:
        raise TaskInputError(
            f"The repaint span `repaint_start`..`repaint_end` ({start / SAMPLE_RATE:.3f} to {end / SAMPLE_RATE:.3f} s) "
            f"must be at least one latent frame ({hop / SAMPLE_RATE:g} s) long."
        )
    return start, end


def _step_index(steps: int, fraction: float) -> int:
    return math.floor(steps * fraction + 1e-9)


def _plan_extend(request: GenerationRequest, sampling: Sampling, condition: TextCondition, geometry: Geometry) -> Job:
    audio = prepare_input_audio(request.audio, "audio")
    for field, value in (
        ("left_extend_duration", request.left_extend_duration),
        ("right_extend_duration", request.right_extend_duration),
    ):
        if not math.isfinite(value) or value < 0:
            raise TaskInputError(f"`{field}` must be 0 or more seconds, got {value!r}.")
    left = seconds_to_samples(request.left_extend_duration)
    right = seconds_to_samples(request.right_extend_duration)
    if left + right == 0:
        raise TaskInputError(
            "`left_extend_duration` + `right_extend_duration` must be more than 0 seconds, got "
            f"{request.left_extend_duration!r} + {request.right_extend_duration!r}."
        )
    samples = audio.shape[1]
    total = left + samples + right
    if total > MAX_OUTPUT_SAMPLES:
        raise TaskInputError(
            f"Extending {samples / SAMPLE_RATE:.1f} s of audio by {left / SAMPLE_RATE:.1f} s + "
            f"{right / SAMPLE_RATE:.1f} s gives {total / SAMPLE_RATE:.1f} s; the longest output is "
            f"{MAX_OUTPUT_SECONDS:.0f} s."
        )
    hop = geometry.hop_length
    left_frames = geometry.frames_for(left)
    # The source starts on a frame boundary; a partly filled last frame is regenerated when a right
    # pad follows it (its tail is then pad, not source), and kept otherwise.
    source_frames = samples // hop if right and samples % hop else geometry.frames_for(samples)
    frames = left_frames + geometry.frames_for(samples + right)
    return Job(
        request=request,
        sampling=sampling,
        frames=frames,
        out_samples=total,
        condition=condition,
        metas_seconds=total / SAMPLE_RATE,
        source=pad_to(audio, geometry.frames_for(samples) * hop),
        left_frames=left_frames,
        source_frames=source_frames,
        left_samples=left,
        right_samples=right,
        input_samples=samples,
    )

"""Torch-free types at the boundary between the worker and the engine.

Audio crosses this boundary as float32 numpy arrays shaped ``(2, samples)`` at ``SAMPLE_RATE``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from aceserve.domain.inputs_models import (
    DEFAULT_COVER_NOISE_STRENGTH,
    DEFAULT_COVER_STRENGTH,
    DEFAULT_EDIT_N_AVG,
    DEFAULT_EDIT_N_MAX,
    DEFAULT_EDIT_N_MIN,
    DEFAULT_LORA_SCALE,
    DEFAULT_LYRICS,
)
from aceserve.domain.limits import CHANNELS, MAX_OUTPUT_SECONDS, SAMPLE_RATE
from aceserve.domain.states import TaskType

__all__ = ["CHANNELS", "MAX_OUTPUT_SECONDS", "SAMPLE_RATE"]  # re-exported: the engine's view of the limits

Audio = npt.NDArray[np.float32]

ProgressCallback = Callable[[float], None]
"""Called with the fraction done (0..1), monotonic, ending at 1.0 on success."""

CancelCheck = Callable[[], bool]
"""Polled once per denoising step; True stops the run (the engine then raises ``TaskCancelled``)."""


@dataclass(frozen=True)
class GenerationRequest:
    """One task's work, already validated and with its input audio decoded.

    Its fields are named after the task input fields of ``aceserve.domain.inputs_models`` (where
    their bounds and defaults are defined), so the worker maps an input onto it by name
    (``worker/request.py``); a new input field the engine uses gets a field of the same name here.
    """

    task_type: TaskType
    seed: int
    style_prompt: str
    lyrics: str = DEFAULT_LYRICS
    negative_style_prompt: str = ""
    duration: float | None = None  # txt2audio; audio2audio (None: the input's length)
    audio: Audio | None = None  # audio2audio `style_audio`, edit and extend `audio`
    edit_style_prompt: str = ""
    edit_lyrics: str = DEFAULT_LYRICS
    left_extend_duration: float = 0.0
    right_extend_duration: float = 0.0
    infer_steps: int | None = None  # None: the checkpoint variant's default
    guidance_scale: float | None = None  # None: the checkpoint variant's default
    audio_cover_strength: float = DEFAULT_COVER_STRENGTH
    edit_n_min: float = DEFAULT_EDIT_N_MIN
    edit_n_max: float = DEFAULT_EDIT_N_MAX
    cover_noise_strength: float = DEFAULT_COVER_NOISE_STRENGTH
    edit_n_avg: int = DEFAULT_EDIT_N_AVG
    repaint_start: float | None = None  # edit: section repaint when either bound is given
    repaint_end: float | None = None
    lora: str = ""  # adapter name ("" : none)
    lora_scale: float = DEFAULT_LORA_SCALE
    # Musical metadata (None: the planner's, else "N/A" / "unknown" as ACE-Step 1.5 writes them)
    bpm: int | None = None
    key_scale: str | None = None
    time_signature: int | None = None
    vocal_language: str | None = None
    # The 5 Hz LM planner (txt2audio); None: its defaults (engine/planning.py)
    thinking: bool | None = None  # None: plan when an LM is loaded
    description: str | None = None
    lm_temperature: float | None = None
    lm_cfg_scale: float | None = None
    lm_top_p: float | None = None
    lm_top_k: int | None = None


@dataclass(frozen=True)
class GenerationResult:
    audio: Audio
    sample_rate: int = SAMPLE_RATE
    meta: dict[str, object] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # lines for the task's logs (e.g. why the planner's output was not used)


@dataclass(frozen=True)
class EngineInfo:
    model: str  # hub id or path it was loaded from
    variant: str  # turbo | base | sft
    device: str
    dtype: str
    default_steps: int
    default_guidance: float
    max_batch_size: int
    adapters: tuple[str, ...] = ()  # names of the LoRA/LoKr adapters loaded at start


class Engine(Protocol):
    """What the worker needs from the engine."""

    @property
    def info(self) -> EngineInfo: ...

    def batch_key(self, request: GenerationRequest) -> str:
        """Requests with equal keys may run in one pipeline call."""
        ...

    def generate(
        self,
        requests: list[GenerationRequest],
        *,
        on_progress: ProgressCallback | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> list[GenerationResult]:
        """Run the requests (batched where compatible), results in the same order.

        Raises ``aceserve.domain.errors.TaskInputError`` for input the model cannot take and
        ``aceserve.domain.errors.TaskCancelled`` when ``should_cancel`` returned True.
        """
        ...

"""Builders shared by the engine tests."""

from __future__ import annotations

from typing import Any

import numpy as np

from aceserve.domain.states import TaskType
from aceserve.engine.types import SAMPLE_RATE, Audio, GenerationRequest


def noise_audio(seconds: float, seed: int = 0) -> Audio:
    """Deterministic stereo test audio (a sine plus a little noise) at 48 kHz."""
    samples = round(seconds * SAMPLE_RATE)
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / SAMPLE_RATE
    tone = 0.4 * np.sin(2 * np.pi * (220 + 40 * seed) * t)
    return (np.stack([tone, -tone]) + rng.normal(0, 0.02, (2, samples))).astype(np.float32)


def request(task_type: TaskType | str, /, **fields: Any) -> GenerationRequest:
    """A request with short, valid defaults for ``task_type``, overridden by ``fields``."""
    task = TaskType(task_type)
    defaults: dict[str, Any] = {"seed": 7, "style_prompt": "upbeat synth pop"}
    if task is TaskType.TXT2AUDIO:
        defaults["duration"] = 2.0
    if task is TaskType.EDIT:
        defaults["edit_style_prompt"] = "slow jazz ballad"
    if task is TaskType.EXTEND:
        defaults["right_extend_duration"] = 1.0
    return GenerationRequest(task_type=task, **{**defaults, **fields})

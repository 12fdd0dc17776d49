"""A task's typed input to the engine's request, in one function.

Fields map onto ``GenerationRequest`` by name, so a field declared on an input model reaches the
engine as soon as ``GenerationRequest`` has a field of that name; ``tests/test_one_input_definition.py``
checks that every input field is either mapped or one the worker handles itself.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Final

from aceserve.domain.inputs_models import AUDIO_FIELDS, TaskInput
from aceserve.engine.types import Audio, GenerationRequest

WORKER_FIELDS: Final = frozenset({"seed", "output_format"}) | AUDIO_FIELDS
"""Input fields the worker resolves itself: the seed (drawn when absent), the output format (it
encodes), the audio sources (it fetches and decodes them into ``GenerationRequest.audio``)."""
ENGINE_FIELDS: Final = frozenset(f.name for f in dataclasses.fields(GenerationRequest)) - {"task_type", "seed", "audio"}


def generation_request(task_input: TaskInput, *, seed: int, audio: Audio | None) -> GenerationRequest:
    """The engine's view of a task: its input's engine fields, the seed and the decoded input audio."""
    values: dict[str, Any] = {
        name: getattr(task_input, name) for name in type(task_input).model_fields if name in ENGINE_FIELDS
    }
    return GenerationRequest(task_type=task_input.task_type, seed=seed, audio=audio, **values)

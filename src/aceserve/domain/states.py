"""Closed sets: task types and task states. Every dispatch on them ends in ``assert_never``."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

MODEL_NAME = "Qubico/ace-step"
MODEL_NAMES = frozenset({"qubico/ace-step", "ace-step", "ace_step"})
"""The names a history filter knows this model by (compared in lowercase)."""


def is_model_name(name: str) -> bool:
    return name.strip().lower() in MODEL_NAMES


class TaskType(StrEnum):
    TXT2AUDIO = "txt2audio"
    AUDIO2AUDIO = "audio2audio"
    EDIT = "edit"
    EXTEND = "extend"


class TaskStatus(StrEnum):
    STAGED = "staged"  # held back by the account's concurrency limit
    PENDING = "pending"  # waiting for a worker
    PROCESSING = "processing"  # leased by a worker
    COMPLETED = "completed"
    FAILED = "failed"  # also the end state of a cancelled task

    @property
    def is_terminal(self) -> bool:
        return self in (TaskStatus.COMPLETED, TaskStatus.FAILED)

    @property
    def is_active(self) -> bool:
        return not self.is_terminal


class TaskPhase(StrEnum):
    """Where a processing task is in its worker (``meta.phase`` [ext], shown while processing)."""

    PREPARING = "preparing"  # claimed: its input audio is fetched and decoded
    WAITING = "waiting"  # prepared, waiting for the device
    GENERATING = "generating"  # on the device (``meta.progress`` moves)
    ENCODING = "encoding"  # generated: waiting for or in the encoder, then stored


PHASE_KEY = "phase"
"""The ``meta`` key of a task's ``TaskPhase``; set by its worker, dropped when the task ends."""


ACTIVE_STATUSES = (TaskStatus.STAGED, TaskStatus.PENDING, TaskStatus.PROCESSING)


AudioType = Literal["mp3", "wav", "flac", "ogg", "m4a"]
"""Audio file types recognised from their bytes (``media.sniff_audio_type``): the upload extensions."""


class OutputFormat(StrEnum):
    """Formats a task's audio is encoded to (the ``output_format`` input field)."""

    MP3 = "mp3"
    WAV = "wav"
    FLAC = "flac"


class DeliveryState(StrEnum):
    """A webhook delivery's state (``webhook_outbox.state``)."""

    PENDING = "pending"  # waiting for its next attempt (or in flight while leased)
    DELIVERED = "delivered"  # a 2xx was received
    DEAD = "dead"  # given up: 410, retry window over, unsendable, or superseded


class WorkerState(StrEnum):
    """A worker's self-reported state (``workers.state``), shown by ``/health``."""

    STARTING = "starting"  # loading the model
    READY = "ready"  # idle, waiting for tasks
    BUSY = "busy"  # running tasks
    FAILED = "failed"  # could not load the model
    STOPPED = "stopped"

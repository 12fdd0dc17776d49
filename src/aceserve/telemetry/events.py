"""Task lifecycle events: what happened to a task, said once its transaction committed.

``aceserve.store.transitions`` is the one place that records them; ``publish`` hands each to the
metrics and to the lifecycle log.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from enum import StrEnum
from typing import Any


class Transition(StrEnum):
    """The steps of a task's life."""

    CREATED = "created"  # accepted: pending, or staged over the account's concurrency limit
    PROMOTED = "promoted"  # staged -> pending (a slot of the account freed up)
    STARTED = "started"  # claimed by a worker (pending -> processing)
    REQUEUED = "requeued"  # processing -> pending: a retry, a worker shutting down, or an expired lease
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"  # failed with the cancel code: the client asked


@dataclass(frozen=True)
class TaskEvent:
    transition: Transition
    task_id: str
    account_id: str
    task_type: str
    status: str
    attempt: int = 0
    queue_seconds: float | None = None
    """STARTED: time since the task became pending (created, promoted or re-queued) until claimed."""
    run_seconds: float | None = None
    """COMPLETED, FAILED, CANCELLED after a start: time since the worker claimed it."""
    audio_seconds: float | None = None
    consumed_usd: float | None = None
    batch_size: int | None = None
    """STARTED: how many tasks the worker claimed together."""
    reason: str = ""

    def fields(self) -> dict[str, Any]:
        """The event as flat fields, the unset ones left out (for structured logs)."""
        values = ((item.name, getattr(self, item.name)) for item in dataclass_fields(self))  # no deep copies
        return {key: value for key, value in values if value not in (None, "")}


def publish(event: TaskEvent) -> None:
    """Count the event in the metrics and write its log line."""
    from aceserve.telemetry import metrics, tasklog

    metrics.observe(event)
    tasklog.log_event(event)

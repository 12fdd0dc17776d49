"""The one place the store names what happened to a task. Each function is called in the transaction
that made the change, and publishes a ``TaskEvent`` (metrics, the lifecycle log line) once that
transaction commits; a rolled-back change says nothing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from aceserve.domain.billing import units_to_usd
from aceserve.domain.states import TaskStatus
from aceserve.store.clock import utcnow
from aceserve.store.db import after_commit
from aceserve.store.models import Task
from aceserve.store.prepared import Writes
from aceserve.telemetry import TaskEvent, Transition, publish
from aceserve.telemetry.metrics import observe_batch


def _event(task: Task, transition: Transition, **values: object) -> TaskEvent:
    return TaskEvent(
        transition=transition,
        task_id=task.id,
        account_id=task.account_id,
        task_type=str(task.task_type),
        status=TaskStatus(task.status).value,
        attempt=task.attempts,
        **values,  # type: ignore[arg-type]
    )


def _publish(session: Writes, event: TaskEvent) -> None:
    after_commit(session, lambda: publish(event))


def _seconds(since: datetime | None, now: datetime) -> float | None:
    return None if since is None else max(0.0, (now - since).total_seconds())


def created(session: Writes, task: Task) -> None:
    _publish(session, _event(task, Transition.CREATED))


def promoted(session: Session, task: Task) -> None:
    _publish(session, _event(task, Transition.PROMOTED))


def started(session: Session, tasks: list[Task], *, queued_since: dict[str, datetime]) -> None:
    """A worker claimed ``tasks`` as one batch; ``queued_since`` is when each became pending (created,
    promoted from staged, or re-queued): its time in the queue ends now."""
    now = utcnow()
    for task in tasks:
        wait = _seconds(queued_since.get(task.id), now)
        _publish(session, _event(task, Transition.STARTED, queue_seconds=wait, batch_size=len(tasks)))
    size = len(tasks)
    after_commit(session, lambda: observe_batch(size))


def requeued(session: Session, task: Task, *, reason: str, ran_since: datetime | None) -> None:
    """Back to pending: ``retry`` (an infrastructure failure), ``released`` (shutdown) or ``expired``."""
    _publish(session, _event(task, Transition.REQUEUED, reason=reason, run_seconds=_seconds(ran_since, utcnow())))


def completed(session: Session, task: Task, *, audio_seconds: float, consumed_units: int) -> None:
    _publish(
        session,
        _event(
            task,
            Transition.COMPLETED,
            run_seconds=_seconds(task.started_at, utcnow()),
            audio_seconds=audio_seconds,
            consumed_usd=units_to_usd(consumed_units),
        ),
    )


def ended_unsuccessfully(session: Session, task: Task, *, cancelled: bool, reason: str) -> None:
    """Failed, or cancelled by the client; the run time counts only for a task a worker had started."""
    transition = Transition.CANCELLED if cancelled else Transition.FAILED
    _publish(session, _event(task, transition, run_seconds=_seconds(task.started_at, utcnow()), reason=reason))

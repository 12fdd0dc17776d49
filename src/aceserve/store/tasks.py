"""Task lifecycle on the client's side: create, read, cancel, list. The worker side is ``queue``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aceserve.domain.errors import InvalidInput, NotFound, TooManyRequests
from aceserve.domain.states import ACTIVE_STATUSES, TaskStatus, TaskType
from aceserve.store import accounts, transitions
from aceserve.store.clock import new_uuid, utcnow
from aceserve.store.fairness import fair_position
from aceserve.store.models import Account, StoredFile, Task
from aceserve.store.outbox import enqueue_task_event
from aceserve.store.render import render_task
from aceserve.store.wakeup import notify_pending

CANCELLED_CODE = 499
CANCELLED_MESSAGE = "Task was cancelled by the client."


@dataclass(frozen=True)
class TaskDraft:
    """A validated create request, ready to be stored: ``input`` is the typed input's echo and
    ``config`` the config's, with this server's files as relative paths."""

    task_type: TaskType
    input: dict[str, Any]
    config: dict[str, Any]
    frozen_units: int
    batch_hint: str | None = None
    idempotency_key: str | None = None
    files: list[StoredFile] = field(default_factory=list)
    task_id: str = field(default_factory=new_uuid)
    logs: tuple[str, ...] = ()
    why: str = ""
    """What the frozen amount is for, for a 402 when the balance cannot cover it."""


@dataclass(frozen=True)
class Created:
    task: Task
    created: bool  # False: an earlier task with the same Idempotency-Key was returned


def create_task(
    session: Session, account_id: str, draft: TaskDraft, *, max_queued: int, max_queued_per_account: int | None = None
) -> Created:
    """Freeze credit and insert the task (pending, or staged over the concurrency limit) with its
    webhook event, all in the caller's transaction."""
    account = accounts.lock_account(session, account_id)
    if draft.idempotency_key is not None:
        existing = find_by_idempotency_key(session, account.id, draft.idempotency_key)
        if existing is not None:
            return Created(existing, created=False)
    queued = session.scalar(
        select(func.count()).select_from(Task).where(Task.status.in_([TaskStatus.PENDING, TaskStatus.STAGED]))
    )
    if (queued or 0) >= max_queued:
        raise TooManyRequests(f"The queue is full ({queued} tasks waiting); try again later.", retry_after=30)
    if max_queued_per_account is not None:
        own = count_waiting(session, account.id)
        if own >= max_queued_per_account:
            raise TooManyRequests(
                f"This account already has {own} tasks waiting, its limit (max_queued_per_account); try again "
                "when some have started.",
                retry_after=30,
            )
    accounts.freeze(session, account, draft.task_id, draft.frozen_units, why=draft.why)
    running = count_running(session, account.id)
    status = TaskStatus.PENDING if running < account.max_concurrent else TaskStatus.STAGED
    now = utcnow()
    task = Task(
        id=draft.task_id,
        account_id=account.id,
        task_type=draft.task_type,
        status=status,
        input=draft.input,
        config=draft.config,
        output=None,
        meta_extra={},
        batch_hint=draft.batch_hint,
        idempotency_key=draft.idempotency_key,
        seed=draft.input.get("seed"),
        progress=0.0,
        frozen_units=draft.frozen_units,
        consumed_units=0,
        error_code=0,
        error_message="",
        error_raw="",
        logs={"lines": list(draft.logs)} if draft.logs else {},
        created_at=now,
        updated_at=now,
        started_at=None,
        ended_at=None,
        attempts=0,
        lease_token=0,
        lease_owner=None,
        lease_expires_at=None,
        cancel_requested=False,
    )
    session.add(task)
    for stored in draft.files:
        stored.task_id = task.id
        session.add(stored)
    enqueue_task_event(session, task)
    transitions.created(session, task)
    if status is TaskStatus.PENDING:
        notify_pending(session, task.id)
    return Created(task, created=True)


def append_logs(task: Task, lines: Iterable[str]) -> None:
    """Add lines to the task's ``logs`` (kept in order, each once)."""
    current = list((task.logs or {}).get("lines", []))
    added = [line for line in lines if line not in current]
    if added:
        task.logs = {**(task.logs or {}), "lines": current + added}


def queue_position(session: Session, task: Task) -> int | None:
    """1 for the pending task a worker claims next, in the claim's fair order (``store.fairness``);
    None unless pending."""
    if task.status != TaskStatus.PENDING:
        return None
    return fair_position(session, task.id)


def count_waiting(session: Session, account_id: str) -> int:
    """The account's tasks waiting to run (pending or staged): what ``max_queued_per_account`` caps."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Task)
            .where(Task.account_id == account_id, Task.status.in_([TaskStatus.PENDING, TaskStatus.STAGED]))
        )
        or 0
    )


def render_task_now(session: Session, task: Task) -> dict[str, Any]:
    """The task object as a client reads it now: ``render.render_task`` plus, while pending,
    ``meta.queue_position``."""
    data = render_task(task)
    position = queue_position(session, task)
    if position is not None:
        data["meta"]["queue_position"] = position
    return data


def find_by_idempotency_key(session: Session, account_id: str, key: str) -> Task | None:
    return session.scalar(select(Task).where(Task.account_id == account_id, Task.idempotency_key == key))


def count_running(session: Session, account_id: str) -> int:
    """Tasks that hold one of the account's concurrency slots (pending or processing)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Task)
            .where(Task.account_id == account_id, Task.status.in_([TaskStatus.PENDING, TaskStatus.PROCESSING]))
        )
        or 0
    )


def get_task(session: Session, account_id: str, task_id: str) -> Task:
    """The account's task; other accounts' tasks are indistinguishable from missing ones (404)."""
    task = session.get(Task, task_id.lower()) if _looks_like_uuid(task_id) else None
    if task is None or task.account_id != account_id:
        raise NotFound(f"Task {task_id} was not found.")
    return task


def cancel_task(session: Session, account_id: str, task_id: str) -> Task:
    """Cancel a task: staged and pending ones end at once; running ones are flagged for their
    worker, which stops within one step and ends the task."""
    get_task(session, account_id, task_id)
    accounts.lock_account(session, account_id)
    task = session.scalar(
        select(Task).where(Task.id == task_id.lower()).with_for_update().execution_options(populate_existing=True)
    )
    assert task is not None
    status = TaskStatus(task.status)
    if status in (TaskStatus.STAGED, TaskStatus.PENDING):
        finish_cancelled(session, task)
    elif status is TaskStatus.PROCESSING:
        if not task.cancel_requested:
            task.cancel_requested = True
            task.updated_at = utcnow()
    elif status in (TaskStatus.COMPLETED, TaskStatus.FAILED):
        raise InvalidInput(
            "task_id",
            f"names a task that is already {status.value}; only staged, pending and processing tasks can be cancelled",
        )
    return task


def finish_failed(session: Session, task: Task, *, code: int, message: str, raw: str) -> None:
    """End a task as failed: release its credit, report it, and let a staged task take its slot."""
    now = utcnow()
    was_holding_slot = task.status in (TaskStatus.PENDING, TaskStatus.PROCESSING)
    task.status = TaskStatus.FAILED
    task.error_code = code
    task.error_message = message
    task.error_raw = raw
    task.ended_at = now
    task.updated_at = now
    task.lease_owner = None
    task.lease_expires_at = None
    accounts.settle(session, task.account_id, task.id, task.frozen_units, 0)
    task.frozen_units = 0
    enqueue_task_event(session, task)
    transitions.ended_unsuccessfully(session, task, cancelled=code == CANCELLED_CODE, reason=message[:200])
    if was_holding_slot:
        promote_staged(session, task.account_id)


def finish_cancelled(session: Session, task: Task) -> None:
    """End a task the client cancelled: failed, with the message clients look for."""
    finish_failed(session, task, code=CANCELLED_CODE, message=CANCELLED_MESSAGE, raw="cancelled")


def promote_staged(session: Session, account_id: str) -> list[Task]:
    """Move the account's oldest staged tasks to pending while it has free slots."""
    account = session.get(Account, account_id)
    assert account is not None
    session.flush()
    free = account.max_concurrent - count_running(session, account_id)
    if free <= 0:
        return []
    staged = session.scalars(
        select(Task)
        .where(Task.account_id == account_id, Task.status == TaskStatus.STAGED)
        .order_by(Task.created_at, Task.id)
        .limit(free)
    ).all()
    now = utcnow()
    for task in staged:
        task.status = TaskStatus.PENDING
        task.updated_at = now
        enqueue_task_event(session, task)
        transitions.promoted(session, task)
    if staged:
        notify_pending(session)
    return list(staged)


@dataclass(frozen=True)
class HistoryPage:
    tasks: list[Task]
    total: int


def list_history(
    session: Session,
    account_id: str,
    *,
    page: int,
    page_size: int,
    start: datetime | None = None,
    end: datetime | None = None,
) -> HistoryPage:
    """The account's tasks, newest first."""
    conditions = [Task.account_id == account_id]
    if start is not None:
        conditions.append(Task.created_at >= start)
    if end is not None:
        conditions.append(Task.created_at <= end)
    total = int(session.scalar(select(func.count()).select_from(Task).where(*conditions)) or 0)
    rows = session.scalars(
        select(Task)
        .where(*conditions)
        .order_by(Task.created_at.desc(), Task.id.desc())
        .offset((page - 1) * page_size)
        .limit(page_size)
    ).all()
    return HistoryPage(list(rows), total)


def count_by_status(session: Session, account_id: str) -> dict[TaskStatus, int]:
    rows = session.execute(
        select(Task.status, func.count())
        .where(Task.account_id == account_id, Task.status.in_(ACTIVE_STATUSES))
        .group_by(Task.status)
    ).all()
    counts = {status: 0 for status in ACTIVE_STATUSES}
    for status, count in rows:
        counts[TaskStatus(status)] = int(count)
    return counts


def _looks_like_uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return len(value) == 36

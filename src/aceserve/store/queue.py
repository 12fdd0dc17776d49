"""The tasks table as a queue: claim with a lease and fencing token, heartbeat, finish, reap.

Every write a worker makes after its claim names the task and the ``lease_token`` it got; the row
must still be ``processing`` with that token, or ``StaleLease`` is raised. A worker whose lease
expired and whose task was re-run can therefore never overwrite the newer run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aceserve.domain import billing
from aceserve.domain.errors import StaleLease
from aceserve.domain.states import PHASE_KEY, TaskPhase, TaskStatus, TaskType
from aceserve.domain.text import storable_text
from aceserve.store import accounts, fairness, tasks, transitions
from aceserve.store.clock import utcnow
from aceserve.store.db import Database
from aceserve.store.models import StoredFile, Task
from aceserve.store.outbox import enqueue_task_event
from aceserve.store.tasks import finish_failed, promote_staged
from aceserve.store.wakeup import notify_pending

INFRA_FAILURE_CODE = 500
INPUT_FAILURE_CODE = 400


@dataclass(frozen=True)
class Lease:
    """A worker's claim on one task: what it must present on every later write."""

    task_id: str
    token: int
    task_type: TaskType
    input: dict[str, Any]
    attempts: int
    account_id: str


@dataclass(frozen=True)
class HeartbeatReply:
    cancel_requested: bool


CLAIM_CANDIDATES = 64
"""Pending tasks read in claim order per claim; more than that many workers claiming at once would
make some find nothing this round (they claim again at once)."""


def claim(db: Database, *, owner: str, lease_seconds: float, max_batch: int = 1) -> list[Lease]:
    """Lease the next pending task in fair order (``store.fairness``: each account's oldest first) and
    up to ``max_batch - 1`` pending tasks sharing its batch hint, in the same order.

    PostgreSQL: candidates are locked one by one with ``FOR UPDATE SKIP LOCKED``, so concurrent
    workers pass over each other's rows. SQLite: the write transaction is ``BEGIN IMMEDIATE``, so
    claims are serialized.
    """
    with db.write() as session:
        first = None
        for task_id in session.scalars(fairness.fair_pending(CLAIM_CANDIDATES)).all():
            first = _lock_pending(session, task_id)
            if first is not None:
                break
        if first is None:
            return []
        tasks = [first]
        if first.batch_hint is not None and max_batch > 1:
            mates = session.scalars(fairness.fair_pending(CLAIM_CANDIDATES, batch_hint=first.batch_hint)).all()
            for task_id in mates:
                if len(tasks) >= max_batch:
                    break
                mate = None if task_id == first.id else _lock_pending(session, task_id)
                if mate is not None:
                    tasks.append(mate)
        now = utcnow()
        queued_since = {task.id: task.updated_at for task in tasks}  # when each became pending
        leases = []
        for task in tasks:
            task.status = TaskStatus.PROCESSING
            task.attempts += 1
            task.lease_token += 1
            task.lease_owner = owner
            task.lease_expires_at = now + timedelta(seconds=lease_seconds)
            task.started_at = now
            task.updated_at = now
            task.progress = 0.0
            task.meta_extra = {**(task.meta_extra or {}), PHASE_KEY: TaskPhase.PREPARING.value}
            enqueue_task_event(session, task)
            leases.append(
                Lease(
                    task.id,
                    task.lease_token,
                    task.task_type,
                    dict(task.input),
                    task.attempts,
                    task.account_id,
                )
            )
        transitions.started(session, list(tasks), queued_since=queued_since)
        return leases


def _lock_pending(session: Session, task_id: str) -> Task | None:
    """The task, locked, if it is still pending and no other worker holds it."""
    return session.scalar(
        select(Task)
        .where(Task.id == task_id, Task.status == TaskStatus.PENDING)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )


def _leased(session: Session, lease: Lease) -> Task:
    task = session.scalar(
        select(Task).where(Task.id == lease.task_id).with_for_update().execution_options(populate_existing=True)
    )
    if task is None or task.status != TaskStatus.PROCESSING or task.lease_token != lease.token:
        raise StaleLease(f"task {lease.task_id} is no longer leased with token {lease.token}")
    return task


def heartbeat(
    db: Database,
    lease: Lease,
    *,
    lease_seconds: float,
    progress: float | None = None,
    phase: TaskPhase | None = None,
) -> HeartbeatReply:
    """Extend the lease (and record progress and the worker's phase: ``meta.phase``); tells the
    worker whether the client cancelled."""
    with db.write() as session:
        task = _leased(session, lease)
        now = utcnow()
        task.lease_expires_at = now + timedelta(seconds=lease_seconds)
        if progress is not None and progress > task.progress:
            task.progress = min(1.0, progress)
        if phase is not None and (task.meta_extra or {}).get(PHASE_KEY) != phase.value:
            task.meta_extra = {**(task.meta_extra or {}), PHASE_KEY: phase.value}
        task.updated_at = now
        return HeartbeatReply(cancel_requested=task.cancel_requested)


def cancel_requested(db: Database, task_ids: list[str]) -> set[str]:
    """Which of these tasks the client asked to cancel (a cheap read for per-step checks)."""
    with db.read() as session:
        rows = session.scalars(select(Task.id).where(Task.id.in_(task_ids), Task.cancel_requested.is_(True)))
        return set(rows)


def start(
    db: Database, lease: Lease, *, seed: int, frozen_units: int, why: str, input_update: dict[str, Any] | None = None
) -> None:
    """Record what the worker resolved before generating: the seed, the exact cost and input fields
    known only now (audio2audio's default ``duration``, for audio given as a URL).

    When the estimate frozen at create was short (a URL input), the difference is frozen now, or
    ``InsufficientCredit`` is raised and nothing is written. A longer estimate stays frozen until the
    task ends, when ``settle`` releases what was not consumed.
    """
    with db.write() as session:
        account = accounts.lock_account(session, lease.account_id)
        task = _leased(session, lease)
        task.seed = seed
        if frozen_units > task.frozen_units:
            accounts.freeze(session, account, task.id, frozen_units - task.frozen_units, why=why)
            task.frozen_units = frozen_units
        if input_update:
            task.input = dict(sorted({**task.input, **input_update}.items()))


def _leased_for_ending(session: Session, lease: Lease) -> Task:
    """Lock the account, then the leased task: the order every transaction that touches both uses
    (create, cancel, promote), so PostgreSQL never sees two of them wait on each other."""
    accounts.lock_account(session, lease.account_id)
    return _leased(session, lease)


def complete(
    db: Database,
    lease: Lease,
    *,
    output: dict[str, Any],
    seconds: float,
    price_usd_per_second: float,
    file: StoredFile,
    meta: dict[str, Any],
    logs: Sequence[str] = (),
) -> bool:
    """Record success, the output file, the charge and the webhook event in one transaction
    (``logs``: lines appended to the task's logs, e.g. what the engine did differently).

    Returns False when the client cancelled meanwhile: the task ends cancelled, uncharged, and the
    caller deletes the file it stored.
    """
    with db.write() as session:
        task = _leased_for_ending(session, lease)
        if task.cancel_requested:
            tasks.finish_cancelled(session, task)
            return False
        now = utcnow()
        consumed = billing.consume_units(seconds, price_usd_per_second, frozen=task.frozen_units)
        accounts.settle(session, task.account_id, task.id, task.frozen_units, consumed)
        file.task_id = task.id
        session.add(file)
        task.status = TaskStatus.COMPLETED
        task.output = output
        task.meta_extra = {key: value for key, value in {**(task.meta_extra or {}), **meta}.items() if key != PHASE_KEY}
        tasks.append_logs(task, logs)
        task.frozen_units = 0
        task.consumed_units = consumed
        task.progress = 1.0
        task.ended_at = now
        task.updated_at = now
        task.lease_owner = None
        task.lease_expires_at = None
        enqueue_task_event(session, task)
        transitions.completed(session, task, audio_seconds=seconds, consumed_units=consumed)
        promote_staged(session, task.account_id)
        return True


def fail(
    db: Database,
    lease: Lease,
    *,
    message: str,
    raw: str = "",
    retryable: bool,
    max_attempts: int,
    code: int | None = None,
) -> bool:
    """End a run that failed. Infrastructure failures (``retryable``) go back to pending while
    attempts remain; bad input fails at once; a task the client cancelled ends cancelled.
    ``code`` overrides the error code (500 infrastructure, 400 input). Returns True when the task
    was re-queued."""
    with db.write() as session:
        task = _leased_for_ending(session, lease)
        if task.cancel_requested:
            tasks.finish_cancelled(session, task)
            return False
        if retryable and task.attempts < max_attempts:
            _requeue(session, task, reason="retry")
            return True
        if code is None:
            code = INFRA_FAILURE_CODE if retryable else INPUT_FAILURE_CODE
        finish_failed(session, task, code=code, message=storable_text(message), raw=storable_text(raw))
        return False


def finish_cancelled(db: Database, lease: Lease) -> None:
    with db.write() as session:
        tasks.finish_cancelled(session, _leased_for_ending(session, lease))


def release(db: Database, lease: Lease) -> None:
    """Give a claimed task back untouched (worker shutting down); the attempt is not counted.
    A task the client cancelled meanwhile ends cancelled instead."""
    with db.write() as session:
        task = _leased_for_ending(session, lease)
        if task.cancel_requested:
            tasks.finish_cancelled(session, task)
            return
        task.attempts = max(0, task.attempts - 1)
        _requeue(session, task, reason="released")


def _requeue(session: Session, task: Task, *, reason: str) -> None:
    ran_since = task.started_at
    task.status = TaskStatus.PENDING
    task.lease_token += 1  # fence off the old holder even before the next claim
    task.lease_owner = None
    task.lease_expires_at = None
    task.progress = 0.0
    task.started_at = None  # pending again: it starts anew when claimed
    task.updated_at = utcnow()
    enqueue_task_event(session, task)
    transitions.requeued(session, task, reason=reason, ran_since=ran_since)
    notify_pending(session, task.id)


def expired_query() -> Any:
    """Running tasks whose lease ran out (the reaper's SELECT)."""
    return (
        select(Task)
        .where(Task.status == TaskStatus.PROCESSING, Task.lease_expires_at < utcnow())
        .with_for_update(skip_locked=True)
    )


def reap_expired(db: Database, *, max_attempts: int) -> int:
    """Return tasks whose lease expired (their worker died) to pending, or fail them once they have
    used their attempts. Returns how many tasks were reaped.

    The expired rows are found without locks, then each is handled account lock first, task lock
    second (re-checked under the lock), the order every other writer uses.
    """
    with db.read() as session:
        candidates = session.execute(
            select(Task.id, Task.account_id, Task.lease_token).where(
                Task.status == TaskStatus.PROCESSING, Task.lease_expires_at < utcnow()
            )
        ).all()
    reaped = 0
    for task_id, account_id, token in candidates:
        with db.write() as session:
            accounts.lock_account(session, account_id)
            task = session.scalar(
                expired_query()
                .where(Task.id == task_id, Task.lease_token == token)
                .execution_options(populate_existing=True)
            )
            if task is None:  # renewed, finished or reaped meanwhile
                continue
            reaped += 1
            if task.cancel_requested:
                tasks.finish_cancelled(session, task)
            elif task.attempts < max_attempts:
                _requeue(session, task, reason="expired")
            else:
                finish_failed(
                    session,
                    task,
                    code=INFRA_FAILURE_CODE,
                    message=f"The worker running this task stopped responding {task.attempts} "
                    "times; the task was given up.",
                    raw="lease expired",
                )
    return reaped

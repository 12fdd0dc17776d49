"""Task lifecycle on the client's side: create, read, cancel, list. The worker side is ``queue``."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import (
    Integer,
    Select,
    Table,
    bindparam,
    case,
    exists,
    func,
    insert,
    literal_column,
    select,
)
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.orm import Session, make_transient_to_detached

from aceserve.domain.errors import InvalidInput, NotFound, TooManyRequests, Unauthorized
from aceserve.domain.states import ACTIVE_STATUSES, TaskStatus, TaskType
from aceserve.store import accounts, transitions
from aceserve.store.clock import new_uuid, utcnow
from aceserve.store.db import Database
from aceserve.store.fairness import position_of
from aceserve.store.models import Account, ApiKey, QueueCount, StoredFile, Task
from aceserve.store.outbox import enqueue_task_event
from aceserve.store.prepared import Writes, cursor_of, dialect_of, prepare
from aceserve.store.render import render_task
from aceserve.store.wakeup import notify_pending

_TASKS = cast(Table, Task.__table__)
_TASK_INSERT = insert(_TASKS).values({column.key: bindparam(column.key, type_=column.type) for column in _TASKS.c})

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

    @property
    def needs_session(self) -> bool:
        """Its create writes ORM rows (files, a webhook event), so it runs in a session's transaction; else a
        raw one (``Database.raw_write``) will do."""
        return bool(self.files) or _wants_webhooks(self.config)


class Created:
    """What a create did: the new task (``created``), or the earlier one with the same Idempotency-Key.
    ``row``: the task's columns as attributes (what rendering reads); ``task``: the ORM object, when the
    create ran in a session."""

    def __init__(self, row: Any, created: bool, *, session: Session | None = None) -> None:
        self.created = created
        self.row = row
        self._session = session

    @property
    def task(self) -> Task:
        """The task as an ORM object in the create's session (built when first asked for: the API's create
        only renders it), so later changes to it in that transaction are written as usual."""
        if isinstance(self.row, Task):
            return self.row
        if self._session is None:
            raise TypeError("a create in a raw transaction has no ORM object; render() it")
        task = Task(**vars(self.row))
        make_transient_to_detached(task)
        self._session.add(task)
        self.row = task
        return task

    def render(self) -> dict[str, Any]:
        """The task object (``render.render_task``)."""
        return render_task(self.row)


_TASK_BY_ID = select(*_TASKS.c).where(_TASKS.c.id == bindparam("task_id"))


def create_task(
    writes: Writes,
    account_id: str,
    draft: TaskDraft,
    *,
    max_queued: int,
    key_hash: str | None = None,
    max_queued_per_account: int | None = None,
) -> Created:
    """Freeze credit and insert the task (pending, or staged over the concurrency limit) with its
    webhook event, all in the caller's transaction: a session's, or a raw one (``Database.raw_write``) for a
    draft without files or webhooks (those are ORM rows).

    Statements, each prepared once (``store.prepared``) and run on the transaction's DBAPI cursor: lock the
    account (reading its balance and concurrency limit); one read for the rest of what decides (the key
    still live when ``key_hash`` is given, an earlier task with the idempotency key, the queue's length,
    the account's running and waiting tasks, each count stopping at its limit); the conditional UPDATE
    that freezes; the inserts (ledger, task, any files and webhook event)."""
    session = writes if isinstance(writes, Session) else None
    if draft.needs_session and session is None:
        raise TypeError("a draft with files or webhooks is created in a session (its rows are ORM objects)")
    account = accounts.lock_for_create(writes, account_id)
    checks = _create_checks(
        writes,
        account,
        draft.idempotency_key,
        key_hash,
        max_queued=max_queued,
        max_queued_per_account=max_queued_per_account,
    )
    if key_hash is not None and not checks.key_live:
        raise Unauthorized("Invalid API key: it is unknown or has been revoked.")
    if checks.earlier_id is not None:
        if session is not None:
            earlier: Any = session.get(Task, checks.earlier_id)
        else:
            earlier = prepare(_TASK_BY_ID, dialect_of(writes)).first(cursor_of(writes), {"task_id": checks.earlier_id})
        assert earlier is not None
        return Created(earlier, created=False)
    if checks.queued >= max_queued:
        raise TooManyRequests(f"The queue is full ({checks.queued} tasks waiting); try again later.", retry_after=30)
    if max_queued_per_account is not None and checks.waiting >= max_queued_per_account:
        raise TooManyRequests(
            f"This account already has {checks.waiting} tasks waiting, its limit (max_queued_per_account); "
            "try again when some have started.",
            retry_after=30,
        )
    accounts.freeze_for_create(writes, account, draft.task_id, draft.frozen_units, why=draft.why)
    status = TaskStatus.PENDING if checks.running < account.max_concurrent else TaskStatus.STAGED
    now = utcnow()
    values: dict[str, Any] = dict(
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
    prepare(_TASK_INSERT, dialect_of(writes)).run(cursor_of(writes), values)
    created = Created(SimpleNamespace(**values), created=True, session=session)
    if session is not None and draft.needs_session:
        task = created.task
        for stored in draft.files:
            stored.task_id = task.id
            session.add(stored)
        enqueue_task_event(session, task)
    transitions.created(writes, created.row)
    if status is TaskStatus.PENDING:
        notify_pending(writes, draft.task_id)
    return created


def _wants_webhooks(config: dict[str, Any]) -> bool:
    return bool(((config or {}).get("webhook_config") or {}).get("endpoint"))


def append_logs(task: Task, lines: Iterable[str]) -> None:
    """Add lines to the task's ``logs`` (kept in order, each once)."""
    current = list((task.logs or {}).get("lines", []))
    added = [line for line in lines if line not in current]
    if added:
        task.logs = {**(task.logs or {}), "lines": current + added}


@dataclass(frozen=True)
class _Checks:
    key_live: bool
    earlier_id: str | None
    queued: int
    running: int
    waiting: int


def _literals(*statuses: TaskStatus) -> list[Any]:
    """Statuses as SQL literals: for SQLite's planner (partial indexes) and prepared statements (no IN list
    parameters, which SQLAlchemy expands at each execution)."""
    return [literal_column(f"'{status.value}'") for status in statuses]


_QUEUED: tuple[Any, ...] = tuple(_literals(TaskStatus.PENDING, TaskStatus.STAGED))


_MAX_QUEUED = bindparam("max_queued", type_=Integer)


def _count_up_to(limit: Any, *conditions: Any, column: Any = Task.status) -> Any:
    """How many tasks match, counting no further than ``limit`` (a count costs no more than its cap).
    ``column``: one the index that serves the conditions holds, so no row is read (``status``: the
    (account_id, status) index covers the account's counts)."""
    return select(func.count()).select_from(select(column).where(*conditions).limit(limit).subquery()).scalar_subquery()


def _queue_counted_by_triggers(dialect: Dialect) -> bool:
    """Whether the database keeps ``queue_counts`` (SQLite; ``models.QueueCount``)."""
    return dialect.name == "sqlite"


@functools.cache
def _checks_statement(
    with_idempotency_key: bool, with_key: bool, with_waiting: bool, from_queue_counts: bool
) -> Select[Any]:
    """One read of everything a create decides on: the queue's length and, with a per-account cap, the
    account's waiting tasks (pending or staged); the account's running tasks (pending or processing),
    counted only up to its limit; an earlier task with the idempotency key, and whether the key is still
    live. Built once per shape (building costs more than running it).

    The waiting counts: from ``queue_counts`` (``from_queue_counts``, SQLite: two rows), else counted on the
    partial index of each status (the statuses are literals for SQLite's planner), each up to its limit."""
    account_id: Any = bindparam("account_id")
    own = Task.account_id == account_id
    max_waiting = bindparam("max_waiting", type_=Integer)
    if from_queue_counts:
        queued: Any = func.coalesce(_waiting_in(literal_column("''")), 0)
        account_waiting: Any = func.coalesce(_waiting_in(account_id), 0)
        queue = None
    else:
        counts = [
            # created_at: a column only the partial index of that status covers, so the planner takes it.
            _count_up_to(_MAX_QUEUED, Task.status == status, column=Task.created_at)
            for status in _QUEUED
        ]
        # Counted once (MATERIALIZED: the planner must not copy the counts into each use below).
        queue = select((counts[0] + counts[1]).label("queued")).cte("queue").prefix_with("MATERIALIZED")
        queued = queue.c.queued
        # The account's waiting tasks are among the queue's: below the cap, the queue's length says enough.
        account_waiting = case(
            (queued >= max_waiting, _count_up_to(max_waiting, own, Task.status.in_(_QUEUED))), else_=queued
        )
    columns: list[Any] = [
        queued,
        _count_up_to(
            bindparam("max_running", type_=Integer),
            own,
            Task.status.in_(_literals(TaskStatus.PENDING, TaskStatus.PROCESSING)),
        ),
    ]
    if with_waiting:
        columns.append(account_waiting)
    if with_idempotency_key:
        columns.append(
            select(Task.id).where(own, Task.idempotency_key == bindparam("idempotency_key")).scalar_subquery()
        )
    if with_key:
        columns.append(
            exists().where(
                ApiKey.key_hash == bindparam("key_hash"), ApiKey.account_id == account_id, ApiKey.revoked_at.is_(None)
            )
        )
    statement = select(*columns)
    return statement if queue is None else statement.select_from(queue)


def _waiting_in(account_id: Any) -> Any:
    return select(QueueCount.waiting).where(QueueCount.account_id == account_id).scalar_subquery()


def create_checks_query(
    account_id: str,
    idempotency_key: str | None,
    key_hash: str | None,
    max_queued: int,
    *,
    dialect: Dialect,
    max_running: int = 10,
    max_waiting: int | None = 200,
) -> Select[Any]:
    """The create's read with its values bound (for plans and tests; the create itself binds at execution)."""
    statement, params = _checks_for(
        dialect, account_id, idempotency_key, key_hash, max_queued, max_running, max_waiting
    )
    return statement.params(**params)


def _checks_for(
    dialect: Dialect,
    account_id: str,
    idempotency_key: str | None,
    key_hash: str | None,
    max_queued: int,
    max_running: int,
    max_waiting: int | None,
) -> tuple[Select[Any], dict[str, Any]]:
    """The create's read for these values (its shape follows which are given) and its parameters."""
    statement = _checks_statement(
        idempotency_key is not None, key_hash is not None, max_waiting is not None, _queue_counted_by_triggers(dialect)
    )
    return statement, _checks_params(account_id, idempotency_key, key_hash, max_queued, max_running, max_waiting)


def _checks_params(
    account_id: str,
    idempotency_key: str | None,
    key_hash: str | None,
    max_queued: int,
    max_running: int,
    max_waiting: int | None,
) -> dict[str, Any]:
    params: dict[str, Any] = {"account_id": account_id, "max_queued": max_queued, "max_running": max_running}
    if max_waiting is not None:
        params["max_waiting"] = max_waiting
    if idempotency_key is not None:
        params["idempotency_key"] = idempotency_key
    if key_hash is not None:
        params["key_hash"] = key_hash
    return params


def _create_checks(
    writes: Writes,
    account: accounts.LockedAccount,
    idempotency_key: str | None,
    key_hash: str | None,
    *,
    max_queued: int,
    max_queued_per_account: int | None,
) -> _Checks:
    dialect = dialect_of(writes)
    statement, params = _checks_for(
        dialect,
        account.id,
        idempotency_key,
        key_hash,
        max_queued,
        max(account.max_concurrent, 0),
        max_queued_per_account,
    )
    row = prepare(statement, dialect).first(cursor_of(writes), params)
    assert row is not None  # a SELECT of scalar subqueries without FROM: always one row
    values = list(row)
    queued_count, running = int(values.pop(0) or 0), int(values.pop(0) or 0)
    waiting = int(values.pop(0) or 0) if max_queued_per_account is not None else 0
    earlier_id = values.pop(0) if idempotency_key is not None else None
    key_live = bool(values.pop(0)) if key_hash is not None else True
    return _Checks(key_live=key_live, earlier_id=earlier_id, queued=queued_count, running=running, waiting=waiting)


@dataclass(frozen=True)
class KeyedRead:
    """What one read of ``GET /api/v1/task/{id}`` found: the key's account (None: unknown or revoked
    key) and the task (None: no such task of that account), with its queue position when pending."""

    account_id: str | None
    key_id: str = ""
    key_last_used_at: datetime | None = None
    task: Any = None
    """A result row with the task's columns as attributes (what ``render.render_task`` reads)."""
    queue_position: int | None = None


_TASK_COLUMNS = Task.__table__.c
_POSITION = position_of(Task.__table__)  # in claim order: what the client reads is what workers follow
_TASK_WITH_POSITION = select(
    *_TASK_COLUMNS,
    case((_TASK_COLUMNS.status == literal_column("'pending'"), _POSITION), else_=None).label("queue_position"),
)
ACCOUNT_TASK_QUERY = _TASK_WITH_POSITION.where(
    _TASK_COLUMNS.account_id == bindparam("account_id"), _TASK_COLUMNS.id == bindparam("task_id")
)
KEYED_TASK_QUERY = (
    _TASK_WITH_POSITION.add_columns(ApiKey.id.label("key_id"), ApiKey.last_used_at.label("key_last_used_at"))
    .join(ApiKey, ApiKey.account_id == _TASK_COLUMNS.account_id)
    .where(
        ApiKey.key_hash == bindparam("key_hash"),
        ApiKey.revoked_at.is_(None),
        _TASK_COLUMNS.id == bindparam("task_id"),
    )
)


def read_for_key(db: Database, key_hash: str, task_id: str) -> KeyedRead:
    """A task as its owner's key sees it, in one prepared read (the key live, the task, its queue position);
    a second one only when nothing was found, to tell an unknown key (401) from an unknown task (404)."""
    if _looks_like_uuid(task_id):
        row = db.prepared(KEYED_TASK_QUERY).first({"key_hash": key_hash, "task_id": task_id.lower()})
        if row is not None:
            return KeyedRead(row.account_id, row.key_id, row.key_last_used_at, row, row.queue_position)
    key = accounts.live_key(db, key_hash)
    return KeyedRead(None) if key is None else KeyedRead(key.account_id, key.id, key.last_used_at)


def read_task(db: Database, account_id: str, task_id: str) -> Any | None:
    """The account's task as a row with its queue position (``queue_position``), or None (also for other
    accounts' tasks: they are indistinguishable from missing ones). A prepared read."""
    if not _looks_like_uuid(task_id):
        return None
    return db.prepared(ACCOUNT_TASK_QUERY).first({"account_id": account_id, "task_id": task_id.lower()})


def render_task_now(row: Any) -> dict[str, Any]:
    """The task object as a client reads it now, from a row of ``read_task`` or ``read_for_key``:
    ``render.render_task`` plus, while pending, ``meta.queue_position``."""
    data = render_task(row)
    if row.queue_position is not None:
        data["meta"]["queue_position"] = row.queue_position
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
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return len(value) == 36

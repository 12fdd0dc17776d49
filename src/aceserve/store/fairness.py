"""Fair claim order across accounts: round-robin by each account's position in its own queue.

A pending task's *rank* is its place in its account's line: the account's running (processing) tasks
first, then its pending ones, oldest first. Workers claim by rank first, then age: an account's next
task waits until every other account with fewer tasks running or ahead of it has had its turn. An
account with 1000 queued tasks therefore makes another account's single task wait behind one of them,
not behind all 1000; within an account, tasks still run oldest first.

``queue.claim`` reads the order here (without locks: PostgreSQL takes no ``FOR UPDATE`` beside a
window function) and then locks candidates one by one with ``SKIP LOCKED``. ``queue_position`` counts
in the same order, so the position a client reads is the order workers follow.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from aceserve.domain.states import TaskStatus
from aceserve.store.models import Task


def _ranked() -> Any:
    running_first = case((Task.status == TaskStatus.PROCESSING, 0), else_=1)
    rank = func.row_number().over(partition_by=Task.account_id, order_by=(running_first, Task.created_at, Task.id))
    lines = (
        select(Task.id, Task.status, Task.batch_hint, Task.created_at, rank.label("rank"))
        .where(Task.status.in_([TaskStatus.PENDING, TaskStatus.PROCESSING]))
        .subquery("lines")
    )
    return select(lines).where(lines.c.status == TaskStatus.PENDING).subquery("ranked")


def fair_pending(limit: int, *, batch_hint: str | None = None) -> Any:
    """Ids of pending tasks in claim order (optionally only those sharing ``batch_hint``)."""
    ranked = _ranked()
    query = select(ranked.c.id).order_by(ranked.c.rank, ranked.c.created_at, ranked.c.id)
    if batch_hint is not None:
        query = query.where(ranked.c.batch_hint == batch_hint)
    return query.limit(limit)


def fair_position(session: Session, task_id: str) -> int | None:
    """1 for the pending task a worker claims next; None when the task is not pending."""
    ranked = _ranked()
    own = session.execute(select(ranked.c.rank, ranked.c.created_at).where(ranked.c.id == task_id)).first()
    if own is None:
        return None
    rank, created_at = own
    ahead = session.scalar(
        select(func.count())
        .select_from(ranked)
        .where(
            or_(
                ranked.c.rank < rank,
                and_(
                    ranked.c.rank == rank,
                    or_(
                        ranked.c.created_at < created_at,
                        and_(ranked.c.created_at == created_at, ranked.c.id < task_id),
                    ),
                ),
            )
        )
    )
    return int(ahead or 0) + 1

"""Task changes, announced to whoever follows tasks (the API's event streams, ``feed.TaskFeed``).

One hook on the ``Task`` mapper sees every insert and update, whichever store function made it
(create, claim, progress, cancel, finish, the reaper), so no writer can forget to announce:

- in this process, the changed task ids reach the subscribers once the transaction commits
  (``db.after_commit``; a rolled-back change says nothing);
- on PostgreSQL, ``NOTIFY aceserve_task_changes`` with the task id is sent inside the transaction, so
  every process that LISTENs (other ``aceserve api`` processes, whoever wrote the change) hears it at
  commit.

A write that touches only the lease (a heartbeat without new progress) announces nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import event, func, inspect, select
from sqlalchemy.orm import Session

from aceserve.store.db import after_commit
from aceserve.store.models import Task

CHANNEL = "aceserve_task_changes"
QUIET_COLUMNS = frozenset({"lease_expires_at", "lease_owner", "updated_at"})
"""Columns a client never sees change: writing only these is not a change worth announcing."""
_PENDING_IDS = "aceserve_changed_tasks"

Subscriber = Callable[[frozenset[str]], None]
_subscribers: list[Subscriber] = []
_lock = threading.Lock()
log = logging.getLogger("aceserve.store.changes")


def subscribe(subscriber: Subscriber) -> None:
    """Call ``subscriber`` with the ids of the tasks each transaction of this process changed, after it commits."""
    with _lock:
        _subscribers.append(subscriber)


def unsubscribe(subscriber: Subscriber) -> None:
    with _lock:
        if subscriber in _subscribers:
            _subscribers.remove(subscriber)


def publish(task_ids: Iterable[str]) -> None:
    """Tell this process's subscribers that these tasks changed (also what a LISTEN relays)."""
    ids = frozenset(task_ids)
    with _lock:
        subscribers = list(_subscribers)
    for subscriber in subscribers:
        subscriber(ids)


def _visible_change(task: Task) -> bool:
    state = inspect(task)
    return any(attr.history.has_changes() for attr in state.attrs if attr.key not in QUIET_COLUMNS)


def _announce(connection: Any, task: Task, *, inserted: bool) -> None:
    if not inserted and not _visible_change(task):
        return
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_notify(CHANNEL, task.id)))
    session = Session.object_session(task)
    if session is None:
        return
    transaction = session.get_transaction()
    held: tuple[object, set[str]] | None = session.info.get(_PENDING_IDS)
    if held is None or held[0] is not transaction:  # the first change of this transaction
        held = session.info[_PENDING_IDS] = (transaction, set())
        ids: set[str] = held[1]
        after_commit(session, lambda: publish(ids))
    held[1].add(task.id)


@event.listens_for(Task, "after_insert")
def _after_insert(_mapper: Any, connection: Any, task: Task) -> None:
    _announce(connection, task, inserted=True)


@event.listens_for(Task, "after_update")
def _after_update(_mapper: Any, connection: Any, task: Task) -> None:
    _announce(connection, task, inserted=False)

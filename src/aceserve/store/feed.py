"""Wake the API's event streams when a task may have changed.

A stream watches its task (``TaskFeed.watch``), waits for ``Watch.changed``, then re-reads the task
and sends what changed. The feed is woken by:

- changes this process commits (``changes.subscribe``), at once;
- on PostgreSQL, ``NOTIFY aceserve_task_changes`` from any process (workers, other API processes),
  relayed by a LISTEN thread;
- otherwise a short poll: a waiter returns after ``poll_seconds`` anyway, which is how a stream sees
  a separate worker process's changes on SQLite (and a safety net on PostgreSQL while LISTEN reconnects).

A pending task's queue position moves when any task ahead of it changes, so a stream following a
pending task is woken by every change. ``close`` ends every wait (server shutdown).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from aceserve.store import changes
from aceserve.store.wakeup import relay_notifications

POSTGRES_POLL_FACTOR = 10
"""With LISTEN/NOTIFY, the poll is only a safety net: this many times slower than on SQLite."""


@dataclass(eq=False)
class Watch:
    """One stream's subscription to its task's changes. A change that arrives while the stream is busy
    (reading the task) is kept, so the next ``changed`` returns at once and nothing is missed."""

    loop: asyncio.AbstractEventLoop
    task_id: str
    poll_seconds: float
    any_task: bool = False
    """Woken by every task's change (a pending task's queue position depends on the others)."""
    closed: bool = False
    _woken: asyncio.Event = field(default_factory=asyncio.Event)

    def wake(self) -> None:
        with contextlib.suppress(RuntimeError):  # its loop has closed: nobody waits any more
            self.loop.call_soon_threadsafe(self._woken.set)

    async def changed(self, timeout: float | None = None) -> None:
        """Return when the task may have changed, after the poll interval (or ``timeout``, when shorter),
        or at once once the feed is closed."""
        if self.closed:
            return
        limit = self.poll_seconds if timeout is None else min(timeout, self.poll_seconds)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._woken.wait(), timeout=max(0.0, limit))
        self._woken.clear()


class TaskFeed:
    def __init__(self, *, poll_seconds: float) -> None:
        self.poll_seconds = poll_seconds
        self._waiters: set[Watch] = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._listener: threading.Thread | None = None
        changes.subscribe(self.publish)

    @classmethod
    def for_database(cls, database_url: str, *, poll_seconds: float) -> TaskFeed:
        """A feed for this database: LISTEN on PostgreSQL (polling slowly), a short poll elsewhere."""
        if not database_url.startswith("postgresql"):
            return cls(poll_seconds=poll_seconds)
        feed = cls(poll_seconds=poll_seconds * POSTGRES_POLL_FACTOR)
        feed._listener = threading.Thread(
            target=relay_notifications,
            args=(database_url, changes.CHANNEL, lambda task_id: feed.publish(frozenset({task_id})), feed._closed),
            kwargs={"on_connect": feed.wake_all},
            name="pg-listen-changes",
            daemon=True,
        )
        feed._listener.start()
        return feed

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def publish(self, task_ids: frozenset[str]) -> None:
        """Wake the waiters of these tasks, and every waiter that follows all changes. Thread-safe."""
        with self._lock:
            waiters = [w for w in self._waiters if w.any_task or w.task_id in task_ids]
        for waiter in waiters:
            waiter.wake()

    def wake_all(self) -> None:
        with self._lock:
            waiters = list(self._waiters)
        for waiter in waiters:
            waiter.wake()

    @contextlib.contextmanager
    def watch(self, task_id: str) -> Iterator[Watch]:
        """Follow ``task_id``'s changes for the block (in a running event loop)."""
        watch = Watch(asyncio.get_running_loop(), task_id, self.poll_seconds, closed=self.closed)
        with self._lock:
            self._waiters.add(watch)
        try:
            yield watch
        finally:
            with self._lock:
                self._waiters.discard(watch)

    def close(self) -> None:
        """End every wait now and from now on (the server is stopping); stop listening."""
        self._closed.set()
        changes.unsubscribe(self.publish)
        with self._lock:
            watches = list(self._waiters)
        for watch in watches:
            watch.closed = True
            watch.wake()

"""Wake idle workers the moment a task becomes pending.

In one process an event is enough. Across processes on PostgreSQL, task inserts send
``NOTIFY aceserve_tasks`` in their transaction and a listener thread turns it into the same event.
Either way, workers also poll slowly as a safety net.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import bindparam, func, select

from aceserve.store.prepared import Writes, cursor_of, dialect_of, prepare

CHANNEL = "aceserve_tasks"
_NOTIFY = select(func.pg_notify(CHANNEL, bindparam("task_id")))
log = logging.getLogger("aceserve.wakeup")


def notify_pending(writes: Writes, task_id: str = "") -> None:
    """Tell other processes' workers, at commit, that a task became pending (PostgreSQL NOTIFY).

    SQLite has no other processes to tell; in-process wake-ups go through ``Wakeup.notify`` after
    the commit."""
    dialect = dialect_of(writes)
    if dialect.name == "postgresql":
        prepare(_NOTIFY, dialect).run(cursor_of(writes), {"task_id": task_id})


class Wakeup:
    def __init__(self) -> None:
        lock = threading.Lock()
        # One condition per kind of waiter, on one lock: a create without a webhook wakes the workers only
        # (a woken thread that finds nothing for it still takes the GIL: at a thousand creates a second, the
        # webhook sender's relay spent a tenth of a core doing so).
        self._condition = threading.Condition(lock)
        self._outbox_condition = threading.Condition(lock)
        self._generation = 0
        self._outbox_generation = 0
        self._listener: threading.Thread | None = None
        self._stop = threading.Event()

    def notify(self, *, outbox: bool = True) -> None:
        """Wake the workers, and the webhook sender too unless ``outbox`` is False (nothing was added to the
        outbox: a create without a webhook, the common case, costs the sender no look)."""
        with self._condition:
            self._generation += 1
            self._condition.notify_all()
            if outbox:
                self._outbox_generation += 1
                self._outbox_condition.notify_all()

    def generation(self, *, outbox: bool = False) -> int:
        """The count of notifications so far (``outbox``: of those for the webhook sender)."""
        with self._condition:
            return self._count(outbox)

    def wait(self, since: int, timeout: float, *, outbox: bool = False) -> bool:
        """Block until a notification newer than ``since`` (``outbox``: one for the webhook sender) or the
        timeout; True if notified."""
        condition = self._outbox_condition if outbox else self._condition
        with condition:
            return condition.wait_for(lambda: self._count(outbox) != since, timeout=timeout)

    def _count(self, outbox: bool) -> int:
        return self._outbox_generation if outbox else self._generation

    @classmethod
    def for_database(cls, database_url: str) -> Wakeup:
        """In-process wake-ups, relaying PostgreSQL NOTIFY too when the database is PostgreSQL."""
        wakeup = cls()
        if database_url.startswith("postgresql"):
            wakeup.listen_postgres(database_url)
        return wakeup

    def listen_postgres(self, url: str) -> None:
        """Start a thread that relays NOTIFY on CHANNEL into this wake-up."""
        self._listener = threading.Thread(target=self._listen, args=(url,), name="pg-listen", daemon=True)
        self._listener.start()

    def close(self) -> None:
        self._stop.set()

    def _listen(self, url: str) -> None:
        relay_notifications(url, CHANNEL, lambda _payload: self.notify(), self._stop, on_connect=self.notify)


def relay_notifications(
    url: str,
    channel: str,
    on_notify: Callable[[str], None],
    stop: threading.Event,
    *,
    on_connect: Callable[[], None],
) -> None:
    """LISTEN on ``channel`` until ``stop`` is set, calling ``on_notify`` with each payload; reconnect after a
    dropped connection, calling ``on_connect`` each time (for what was sent while nobody listened)."""
    import psycopg
    from sqlalchemy.engine import make_url

    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    while not stop.is_set():
        try:
            with psycopg.connect(conninfo, autocommit=True) as conn:
                conn.execute(f"LISTEN {channel}")
                on_connect()
                while not stop.is_set():
                    for notice in conn.notifies(timeout=1.0):
                        on_notify(notice.payload)
        except Exception as exc:  # reconnect after a dropped connection
            log.warning("LISTEN %s connection lost (%s); reconnecting", channel, exc)
            stop.wait(1.0)

"""Keeps a batch's leases alive while the engine runs, and learns of cancellations."""

from __future__ import annotations

import logging
import threading
import time
from types import TracebackType

from aceserve.domain.errors import StaleLease
from aceserve.store import queue
from aceserve.store.db import Database

log = logging.getLogger("aceserve.worker")
CANCEL_POLL_SECONDS = 0.25
PROGRESS_WRITE_SECONDS = 1.0


class Heartbeat:
    """Renews every lease of a batch each ``interval`` seconds and records each task's progress.

    ``cancelled`` holds the ids of tasks the client cancelled; ``lost`` those whose lease went to
    another worker (their results must be thrown away). A batch runs as groups; ``running`` is the
    group in the engine now, the one progress reports and cancel checks are about.
    """

    def __init__(self, db: Database, leases: list[queue.Lease], *, interval: float, lease_seconds: float) -> None:
        self.db = db
        self.leases = {lease.task_id: lease for lease in leases}
        self.interval = interval
        self.lease_seconds = lease_seconds
        self.progress: dict[str, float] = dict.fromkeys(self.leases, 0.0)
        self.running: set[str] = set()
        self.cancelled: set[str] = set()
        self.lost: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self._lock = threading.Lock()
        self._last_poll = 0.0
        self._last_beat = time.monotonic()

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()

    def start_group(self, task_ids: set[str]) -> None:
        self.running = set(task_ids)

    def finish(self, task_id: str) -> None:
        """The task has ended here (completed, failed or released): stop renewing its lease."""
        with self._lock:
            self.leases.pop(task_id, None)
        self.running.discard(task_id)

    def report_progress(self, fraction: float) -> None:
        """Record the running group's progress; write it at once when the last write is over a
        second old, so clients polling a task see it move between heartbeats."""
        for task_id in self.running:
            self.progress[task_id] = max(self.progress.get(task_id, 0.0), fraction)
        if time.monotonic() - self._last_beat >= PROGRESS_WRITE_SECONDS:
            self.beat()

    def beat(self) -> None:
        """Renew all live leases now."""
        self._last_beat = time.monotonic()
        with self._lock:
            for task_id, lease in list(self.leases.items()):
                if task_id in self.lost:
                    continue
                try:
                    reply = queue.heartbeat(
                        self.db, lease, lease_seconds=self.lease_seconds, progress=self.progress.get(task_id)
                    )
                except StaleLease:
                    log.warning("lost the lease on task %s; its result will be discarded", task_id)
                    self.lost.add(task_id)
                    continue
                except Exception:
                    log.exception("heartbeat failed for task %s; will retry", task_id)
                    continue
                if reply.cancel_requested:
                    self.cancelled.add(task_id)

    def poll_cancelled(self) -> None:
        """Look for client cancellations now (throttled), so a cancel stops the run within a step
        instead of waiting for the next heartbeat."""
        now = time.monotonic()
        if now - self._last_poll < CANCEL_POLL_SECONDS:
            return
        self._last_poll = now
        live = [task_id for task_id in self.leases if task_id not in self.cancelled | self.lost]
        if live:
            self.cancelled |= queue.cancel_requested(self.db, live)

    def all_stopped(self) -> bool:
        """True when no task of the running group still wants its result."""
        return (self.running or set(self.leases)) <= (self.cancelled | self.lost)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()

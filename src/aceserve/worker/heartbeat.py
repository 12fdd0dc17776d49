"""Keeps the leases of every task a worker holds alive, whatever stage it is in, and learns of
cancellations."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from types import TracebackType

from aceserve.domain.errors import StaleLease
from aceserve.domain.states import TaskPhase
from aceserve.store import queue
from aceserve.store.db import Database

log = logging.getLogger("aceserve.worker")
CANCEL_POLL_SECONDS = 0.25
PROGRESS_WRITE_SECONDS = 1.0


class Heartbeat:
    """Renews every held lease each ``interval`` seconds from its own thread, and records each task's
    progress and phase (``meta.phase``: preparing, waiting, generating, encoding).

    Tasks join with :meth:`add` when claimed and leave with :meth:`finish` when their last write is
    made, so a task is covered while it is prepared, waits for the device, generates and is encoded.
    ``cancelled`` holds the ids of tasks the client cancelled; ``lost`` those whose lease went to
    another worker (their results must be thrown away). ``running`` is the group on the device now,
    the one progress reports and cancel checks are about.

    Writes happen on the heartbeat thread: a phase change or a progress report wakes it, so neither
    the device lane nor the encoders wait on the database for them.
    """

    def __init__(
        self, db: Database, leases: Iterable[queue.Lease] = (), *, interval: float, lease_seconds: float
    ) -> None:
        self.db = db
        self.interval = interval
        self.lease_seconds = lease_seconds
        self.leases: dict[str, queue.Lease] = {}
        self.progress: dict[str, float] = {}
        self.phases: dict[str, TaskPhase] = {}
        self.running: set[str] = set()
        self.cancelled: set[str] = set()
        self.lost: set[str] = set()
        self._dirty: set[str] = set()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self._lock = threading.Lock()  # guards the dicts and sets above
        self._write_lock = threading.Lock()  # one beat at a time
        self._last_poll = 0.0
        self._last_progress_write = 0.0
        self.add(leases, TaskPhase.PREPARING)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join()

    def add(self, leases: Iterable[queue.Lease], phase: TaskPhase = TaskPhase.PREPARING) -> None:
        """Cover newly claimed tasks (the claim already recorded them as ``preparing``)."""
        with self._lock:
            for lease in leases:
                self.leases[lease.task_id] = lease
                self.progress[lease.task_id] = 0.0
                self.phases[lease.task_id] = phase
                self.lost.discard(lease.task_id)  # a new run of a task this worker held before
                self.cancelled.discard(lease.task_id)

    def held(self) -> list[str]:
        with self._lock:
            return list(self.leases)

    def set_phase(self, task_ids: Iterable[str], phase: TaskPhase) -> None:
        """Record where these tasks are now; written at once by the heartbeat thread."""
        with self._lock:
            for task_id in task_ids:
                if task_id in self.leases and self.phases.get(task_id) != phase:
                    self.phases[task_id] = phase
                    self._dirty.add(task_id)
        self._wake.set()

    def start_group(self, task_ids: set[str]) -> None:
        self.running = set(task_ids)
        self.set_phase(task_ids, TaskPhase.GENERATING)

    def end_group(self) -> None:
        self.running = set()

    def finish(self, task_id: str) -> None:
        """The task is about to end here (completed, failed or released): stop renewing its lease.
        Called before the final write, so no beat races it and finds the lease gone; the lease
        still has most of its time left, and if the final write fails the reaper takes the task
        when it runs out."""
        with self._lock:
            self.leases.pop(task_id, None)
            self.progress.pop(task_id, None)
            self.phases.pop(task_id, None)
            self._dirty.discard(task_id)
        self.running.discard(task_id)

    def report_progress(self, fraction: float) -> None:
        """Record the running group's progress; have it written when the last write is over a
        second old, so clients polling a task see it move between heartbeats."""
        with self._lock:
            for task_id in self.running:
                if task_id in self.progress:
                    self.progress[task_id] = max(self.progress[task_id], fraction)
                    self._dirty.add(task_id)
        if time.monotonic() - self._last_progress_write >= PROGRESS_WRITE_SECONDS:
            self._last_progress_write = time.monotonic()
            self._wake.set()

    def is_cancelled(self, task_id: str) -> bool:
        with self._lock:
            return task_id in self.cancelled

    def is_lost(self, task_id: str) -> bool:
        with self._lock:
            return task_id in self.lost

    def beat(self, task_ids: Iterable[str] | None = None) -> None:
        """Renew these leases (all live ones by default) now, with their progress and phase."""
        with self._write_lock:
            with self._lock:
                wanted = list(self.leases) if task_ids is None else list(task_ids)
                work = [
                    (self.leases[task_id], self.progress.get(task_id), self.phases.get(task_id))
                    for task_id in wanted
                    if task_id in self.leases and task_id not in self.lost
                ]
                self._dirty.difference_update(wanted)
            for lease, progress, phase in work:
                self._beat_one(lease, progress, phase)

    def _beat_one(self, lease: queue.Lease, progress: float | None, phase: TaskPhase | None) -> None:
        try:
            reply = queue.heartbeat(self.db, lease, lease_seconds=self.lease_seconds, progress=progress, phase=phase)
        except StaleLease:
            with self._lock:
                if self.leases.get(lease.task_id) is not lease:
                    return  # it ended here meanwhile (or runs anew): nothing was lost
                self.lost.add(lease.task_id)
            log.warning("lost the lease on task %s; its result will be discarded", lease.task_id)
            return
        except Exception:
            log.exception("heartbeat failed for task %s; will retry", lease.task_id)
            return
        if reply.cancel_requested:
            with self._lock:
                self.cancelled.add(lease.task_id)

    def poll_cancelled(self, *, force: bool = False) -> None:
        """Look for client cancellations now (throttled unless ``force``), so a cancel stops the run
        within a step instead of waiting for the next heartbeat."""
        now = time.monotonic()
        if not force and now - self._last_poll < CANCEL_POLL_SECONDS:
            return
        self._last_poll = now
        with self._lock:
            live = [task_id for task_id in self.leases if task_id not in self.cancelled | self.lost]
        if live:
            found = queue.cancel_requested(self.db, live)
            with self._lock:
                self.cancelled |= found

    def all_stopped(self) -> bool:
        """True when no task of the running group still wants its result."""
        with self._lock:
            return (self.running or set(self.leases)) <= (self.cancelled | self.lost)

    def _run(self) -> None:
        next_beat = time.monotonic() + self.interval
        while not self._stop.is_set():
            self._wake.wait(max(0.0, next_beat - time.monotonic()))
            self._wake.clear()
            if self._stop.is_set():
                return
            if time.monotonic() >= next_beat:
                next_beat = time.monotonic() + self.interval
                self.beat()
            else:
                with self._lock:
                    dirty = list(self._dirty)
                if dirty:
                    self.beat(dirty)

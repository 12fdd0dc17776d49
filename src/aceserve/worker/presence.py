"""A worker's presence: its state in the workers table, rewritten every heartbeat whatever it does.

Loading a model, waiting for tasks and running a long batch all keep the row fresh, so ``/health``
and ``/health/ready`` tell a live worker (idle or not) from one that died without a word.
"""

from __future__ import annotations

import logging
import threading
import time

from aceserve.domain.states import WorkerState
from aceserve.store.db import Database
from aceserve.store.workers import report

log = logging.getLogger("aceserve.worker")


class Presence:
    """Writes ``state`` at once on every change and again every ``interval`` seconds from a thread."""

    def __init__(self, db: Database, worker_id: str, *, device: str, model: str, interval: float) -> None:
        self.db = db
        self.worker_id = worker_id
        self.device = device
        self.model = model
        self.interval = interval
        self.state = WorkerState.STARTING
        self.detail = ""
        self.beats = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def set(self, state: WorkerState, detail: str = "") -> None:
        """Record a new state now."""
        with self._lock:
            self.state = state
            self.detail = detail
            self._write()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"presence-{self.device}", daemon=True)
            self._thread.start()

    def stop(self, final: WorkerState | None = None, detail: str = "") -> None:
        """Stop heartbeating, after writing ``final`` if given (stopped, failed)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.interval + 5)
            self._thread = None
        if final is not None:
            self.set(final, detail)

    def _run(self) -> None:
        next_beat = time.monotonic() + self.interval
        while not self._stop.wait(max(0.0, next_beat - time.monotonic())):
            next_beat += self.interval
            with self._lock:
                self._write()

    def _write(self) -> None:
        """Write the current state (the caller holds the lock, so writes never overtake each other)."""
        try:
            report(self.db, self.worker_id, state=self.state, device=self.device, model=self.model, detail=self.detail)
            self.beats += 1
        except Exception:
            log.exception("could not record worker %s as %s", self.worker_id, self.state.value)

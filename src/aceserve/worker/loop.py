"""A worker: loads the model once, then claims and runs batches until told to stop."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable

from aceserve.engine.types import Engine
from aceserve.fetch import SafeFetcher
from aceserve.media.isolated import IsolatedDecoder
from aceserve.settings import Settings
from aceserve.storage import FileStorage
from aceserve.store import queue
from aceserve.store.db import Database
from aceserve.store.wakeup import Wakeup
from aceserve.store.workers import WorkerState, forget
from aceserve.worker.execute import BatchRunner
from aceserve.worker.inputs import InputResolver
from aceserve.worker.presence import Presence

log = logging.getLogger("aceserve.worker")
EngineFactory = Callable[[], Engine]
REAP_EVERY_SECONDS = 5.0
FORGET_EVERY_SECONDS = 60.0


def worker_id(device: str) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{device}:{threading.get_ident() % 10_000}"


class Worker:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        storage: FileStorage,
        wakeup: Wakeup,
        engine_factory: EngineFactory,
        *,
        device: str,
    ) -> None:
        self.settings = settings
        self.db = db
        self.storage = storage
        self.wakeup = wakeup
        self.engine_factory = engine_factory
        self.device = device
        self.id = worker_id(device)
        self.engine: Engine | None = None
        self.ready = threading.Event()
        self.failed: BaseException | None = None
        self._last_reap = 0.0
        self._last_forget = 0.0
        self._describe = ""
        self.presence = Presence(db, self.id, device=device, model=settings.model, interval=settings.heartbeat_seconds)

    def load(self) -> Engine | None:
        """Load the model, heartbeating as ``starting`` meanwhile; None (and ``failed`` set) when it
        cannot be loaded."""
        self.presence.set(WorkerState.STARTING, "loading the model")
        self.presence.start()
        try:
            engine = self.engine_factory()
        except Exception as exc:
            self.failed = exc
            log.error("worker %s failed to load the model: %s", self.id, exc)
            self.presence.stop(WorkerState.FAILED, f"failed to load the model: {exc}")
            self.ready.set()
            return None
        self.engine = engine
        self._describe = f"{engine.info.variant} on {engine.info.device}, batches up to {engine.info.max_batch_size}"
        self.presence.set(WorkerState.READY, self._describe)
        self.ready.set()
        return engine

    def run(self, stop: threading.Event) -> None:
        engine = self.engine or self.load()
        if engine is None:
            return
        try:
            self._serve(engine, stop)
        finally:
            self.presence.stop(WorkerState.STOPPED)

    def _serve(self, engine: Engine, stop: threading.Event) -> None:
        fetcher = SafeFetcher(
            max_bytes=self.settings.max_input_audio_bytes,
            timeout_seconds=self.settings.fetch_timeout_seconds,
            allow_private=self.settings.allow_private_fetch,
        )
        decoder = None
        if self.settings.isolate_decoding:
            decoder = IsolatedDecoder(timeout_seconds=self.settings.decode_timeout_seconds)
        inputs = InputResolver(self.settings, self.db, self.storage, fetcher, decoder)
        runner = BatchRunner(self.settings, self.db, self.storage, engine, inputs, stopping=stop)
        log.info("worker %s ready (%s)", self.id, engine.info)
        try:
            while not stop.is_set():
                try:
                    self._cycle(runner, engine, stop)
                except Exception:
                    log.exception("worker cycle failed; retrying")
                    stop.wait(1.0)
        finally:
            if decoder is not None:
                decoder.close()

    def _cycle(self, runner: BatchRunner, engine: Engine, stop: threading.Event) -> None:
        self._reap()
        generation = self.wakeup.generation()
        leases = queue.claim(
            self.db,
            owner=self.id,
            lease_seconds=self.settings.lease_seconds,
            max_batch=engine.info.max_batch_size,
        )
        if not leases:
            self.wakeup.wait(generation, self.settings.poll_seconds)
            return
        if stop.is_set():
            for lease in leases:
                queue.release(self.db, lease)
            return
        self.presence.set(WorkerState.BUSY, ", ".join(lease.task_id for lease in leases))
        try:
            runner.run(leases)
        finally:
            self.presence.set(WorkerState.READY, self._describe)
            self.wakeup.notify()  # a finished task may have promoted a staged one

    def _reap(self) -> None:
        now = time.monotonic()
        if now - self._last_reap < REAP_EVERY_SECONDS:
            return
        self._last_reap = now
        if queue.reap_expired(self.db, max_attempts=self.settings.max_attempts):
            self.wakeup.notify()
        if now - self._last_forget >= FORGET_EVERY_SECONDS:
            self._last_forget = now
            forget(self.db, older_than=self.settings.worker_forget_seconds)

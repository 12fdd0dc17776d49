"""A worker: loads the model once, then claims and runs batches until told to stop."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable

from aceserve.engine.types import Engine
from aceserve.fetch import SafeFetcher
from aceserve.media.isolated import IsolatedDecoder, IsolatedEncoder
from aceserve.settings import Settings
from aceserve.storage import FileStorage
from aceserve.store import queue
from aceserve.store.db import Database
from aceserve.store.wakeup import Wakeup
from aceserve.store.workers import WorkerState, forget
from aceserve.worker.encoding import EncodePool, EncoderFactory
from aceserve.worker.execute import BatchRunner
from aceserve.worker.heartbeat import Heartbeat
from aceserve.worker.inputs import InputResolver
from aceserve.worker.pipeline import Pipeline
from aceserve.worker.presence import Presence
from aceserve.worker.stages import StageClock

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
        encoder_factory: EncoderFactory | None = None,
    ) -> None:
        """``encoder_factory`` makes each encode thread's encoder (default: from the settings); tests
        give one whose helper process misbehaves."""
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
        self.encoder_factory = encoder_factory or self._encoder
        self.clock = StageClock()
        """Seconds spent per stage of this worker's tasks (the bench reads it)."""
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
        settings = self.settings
        fetcher = SafeFetcher(
            max_bytes=settings.max_input_audio_bytes,
            timeout_seconds=settings.fetch_timeout_seconds,
            allow_private=settings.allow_private_fetch,
        )
        pipelined = settings.pipelining
        with contextlib.ExitStack() as stack:
            decoder = None
            if settings.isolate_decoding:
                decoder = stack.enter_context(IsolatedDecoder(timeout_seconds=settings.decode_timeout_seconds))
            inputs = InputResolver(settings, self.db, self.storage, fetcher, decoder)
            beat = stack.enter_context(
                Heartbeat(self.db, interval=settings.heartbeat_seconds, lease_seconds=settings.lease_seconds)
            )
            runner = BatchRunner(settings, self.db, self.storage, engine, inputs, beat, stopping=stop, clock=self.clock)
            pool = stack.enter_context(
                EncodePool(
                    runner.finish,
                    lambda job: runner.release(job.item.lease),
                    size=settings.encode_pool_size if pipelined else 0,
                    capacity=engine.info.max_batch_size,
                    make_encoder=self.encoder_factory,
                    stopping=stop,
                    on_finished=self.wakeup.notify,  # a finished task may have promoted a staged one
                )
            )
            pipeline = Pipeline(
                runner,
                pool,
                lambda: self._claim(engine),
                prefetch=settings.prefetch_batches if pipelined else 0,
                stop=stop,
                on_busy=lambda ids: self.presence.set(WorkerState.BUSY, ", ".join(ids)),
                on_idle=lambda: self.presence.set(WorkerState.READY, self._describe),
            )
            log.info(
                "worker %s ready (%s); %s",
                self.id,
                engine.info,
                f"pipelined: {pool.size} encode thread(s), {settings.prefetch_batches} batch(es) prefetched"
                if pipelined
                else "not pipelined",
            )
            pipeline.run()

    def _encoder(self) -> IsolatedEncoder | None:
        if not self.settings.isolate_encoding:
            return None
        return IsolatedEncoder(timeout_seconds=self.settings.encode_timeout_seconds)

    def _claim(self, engine: Engine) -> list[queue.Lease]:
        """The next batch, or [] after waiting a while for a wake-up when there is none."""
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
        return leases

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

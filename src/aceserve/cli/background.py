"""Background threads that run beside the API: workers, the webhook sender, the file janitor."""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable
from datetime import timedelta

from aceserve.api.deps import Services
from aceserve.engine.types import Engine
from aceserve.store.workers import forget
from aceserve.webhooks import WebhookSender
from aceserve.worker.janitor import sweep
from aceserve.worker.loop import Worker

log = logging.getLogger("aceserve")


class ThreadService:
    """Runs ``target(services, stop)`` in a daemon thread; ``stop`` asks it to finish."""

    runs_tasks = False

    def __init__(self, name: str, target: Callable[[Services, threading.Event], None]) -> None:
        self.name = name
        self.target = target
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, services: Services) -> None:
        self._thread = threading.Thread(target=self._run, args=(services,), name=self.name, daemon=True)
        self._thread.start()

    def _run(self, services: Services) -> None:
        try:
            self.target(services, self._stop)
        except Exception:
            log.exception("%s stopped with an error", self.name)

    def request_stop(self) -> None:
        self._stop.set()

    def stop(self, timeout: float = 30.0) -> None:
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)


class WorkerService(ThreadService):
    """An in-process worker bound to one device."""

    runs_tasks = True

    def __init__(self, engine_factory: Callable[[], Engine], device: str) -> None:
        super().__init__(f"worker-{device}", self._work)
        self.engine_factory = engine_factory
        self.device = device
        self.worker: Worker | None = None
        self.created = threading.Event()

    def _work(self, services: Services, stop: threading.Event) -> None:
        self.worker = Worker(
            services.settings, services.db, services.storage, services.wakeup, self.engine_factory, device=self.device
        )
        self.created.set()
        self.worker.run(stop)

    def request_stop(self) -> None:
        super().request_stop()
        if self.worker is not None:
            self.worker.wakeup.notify()  # out of its idle wait at once


def webhook_service() -> ThreadService:
    """The webhook sender; every in-process wake-up (a task changed) also wakes it."""

    def run(services: Services, stop: threading.Event) -> None:
        owner = f"webhooks-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        with WebhookSender(services.db, services.settings, owner=owner) as sender:
            relay = threading.Thread(target=_relay, args=(services, sender, stop), name="webhook-relay", daemon=True)
            relay.start()
            sender.run_forever(stop)
            relay.join(5)

    def _relay(services: Services, sender: WebhookSender, stop: threading.Event) -> None:
        generation = services.wakeup.generation(outbox=True)
        while not stop.is_set():
            if services.wakeup.wait(generation, 1.0, outbox=True):
                generation = services.wakeup.generation(outbox=True)
                sender.wake()
        sender.wake()

    return ThreadService("webhooks", run)


def janitor_service() -> ThreadService:
    def run(services: Services, stop: threading.Event) -> None:
        while True:
            try:
                retention = timedelta(hours=services.settings.webhook_retention_hours)
                sweep(services.db, services.storage, webhook_retention=retention)
                forget(services.db, older_than=services.settings.worker_forget_seconds)
            except Exception:
                log.exception("janitor sweep failed")
            if stop.wait(services.settings.janitor_interval_seconds):
                return

    return ThreadService("janitor", run)

"""Every metric aceserve exports, defined once, and their exposition in the Prometheus text format.

Two kinds:

- Per-process counters and histograms (tasks created, completed, failed, cancelled, re-queued; time in
  queue and run time; batch sizes; audio seconds; credit consumed; webhook attempts), counted by the
  process where the change happened (``observe``: the store's transitions, after commit). With several
  processes on one machine set ``PROMETHEUS_MULTIPROC_DIR`` to one empty directory for all of them
  (prometheus_client's multi-process mode): any process's ``/metrics`` then sums them all. A worker on
  another machine serves its own with ``aceserve worker --metrics-port``; Prometheus sums across
  targets.
- Gauges of shared state (tasks by status, the oldest pending task's age, workers by presence, the
  webhook outbox), read from the database at scrape time (``SharedState``), so every API process
  reports the same truth.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, assert_never

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST, start_http_server
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from aceserve.domain.states import TaskType
from aceserve.telemetry.events import TaskEvent, Transition

CONTENT_TYPE = CONTENT_TYPE_LATEST
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

_TYPE = ["task_type"]
tasks_created = Counter("aceserve_tasks_created", "Tasks accepted (pending or staged), by task type.", _TYPE)
tasks_completed = Counter("aceserve_tasks_completed", "Tasks completed, by task type.", _TYPE)
tasks_failed = Counter("aceserve_tasks_failed", "Tasks failed (cancelled ones not included), by task type.", _TYPE)
tasks_cancelled = Counter("aceserve_tasks_cancelled", "Tasks cancelled by their client, by task type.", _TYPE)
tasks_requeued = Counter(
    "aceserve_tasks_requeued", "Runs handed back to the queue (retry, shutdown, expired lease).", [*_TYPE, "reason"]
)
queue_seconds = Histogram(
    "aceserve_task_queue_seconds",
    "Time from creation (or re-queueing) until a worker claimed the task, by task type.",
    _TYPE,
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
run_seconds = Histogram(
    "aceserve_task_run_seconds",
    "Time from a worker's claim until the task ended (completed, failed or cancelled), by task type.",
    _TYPE,
    buckets=(0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 3600),
)
batch_size = Histogram(
    "aceserve_batch_size", "Tasks a worker claimed together as one batch.", buckets=(1, 2, 3, 4, 6, 8, 12, 16, 32, 64)
)
audio_seconds = Counter("aceserve_audio_seconds", "Seconds of audio delivered by completed tasks, by task type.", _TYPE)
credit_consumed = Counter("aceserve_credit_consumed_usd", "Credit consumed by completed tasks, in USD.", _TYPE)
worker_stage_seconds = Counter(
    "aceserve_worker_stage_seconds",
    "Seconds a worker spent per stage of its tasks: prepare (fetch, decode), generate (the device: its rate is "
    "the device's busy fraction), encode, store (write the file, complete).",
    ["stage"],
)
webhook_attempts = Counter(
    "aceserve_webhook_attempts", "Webhook delivery attempts by outcome (delivered, retry, stop).", ["outcome"]
)


def _zero_series() -> None:
    """Every task type's series exists from the start (at 0), so rates and alerts need no special case."""
    for task_type in TaskType:
        for counter in (tasks_created, tasks_completed, tasks_failed, tasks_cancelled, audio_seconds, credit_consumed):
            counter.labels(task_type.value)
    for outcome in ("delivered", "retry", "stop"):
        webhook_attempts.labels(outcome)


_zero_series()


def observe(event: TaskEvent) -> None:
    """Count one task event."""
    task_type = event.task_type
    match event.transition:
        case Transition.CREATED:
            tasks_created.labels(task_type).inc()
        case Transition.PROMOTED:
            pass
        case Transition.STARTED:
            if event.queue_seconds is not None:
                queue_seconds.labels(task_type).observe(event.queue_seconds)
        case Transition.REQUEUED:
            tasks_requeued.labels(task_type, event.reason or "retry").inc()
        case Transition.COMPLETED:
            tasks_completed.labels(task_type).inc()
            audio_seconds.labels(task_type).inc(event.audio_seconds or 0.0)
            credit_consumed.labels(task_type).inc(event.consumed_usd or 0.0)
        case Transition.FAILED:
            tasks_failed.labels(task_type).inc()
        case Transition.CANCELLED:
            tasks_cancelled.labels(task_type).inc()
        case _:
            assert_never(event.transition)
    if event.run_seconds is not None:
        run_seconds.labels(task_type).observe(event.run_seconds)


def observe_batch(size: int) -> None:
    batch_size.observe(size)


def observe_stage(stage: str, seconds: float) -> None:
    worker_stage_seconds.labels(stage).inc(seconds)


def observe_webhook_attempt(outcome: str) -> None:
    webhook_attempts.labels(outcome).inc()


@dataclass(frozen=True)
class SharedState:
    """The deployment's state as the database holds it, read at scrape time."""

    tasks_by_status: dict[str, int] = field(default_factory=dict)
    oldest_pending_seconds: float = 0.0
    workers_by_presence: dict[str, int] = field(default_factory=dict)
    deliveries_by_state: dict[str, int] = field(default_factory=dict)
    oldest_due_delivery_seconds: float = 0.0


class SharedStateCollector:
    """Gauges of shared state, from ``read()`` at each scrape."""

    def __init__(self, read: Callable[[], SharedState]) -> None:
        self.read = read

    def describe(self) -> list[Metric]:
        return []  # not known until scraped; keeps registering from touching the database

    def collect(self) -> Iterable[Metric]:
        state = self.read()
        yield _labelled(
            "aceserve_queue_tasks",
            "Tasks not yet ended, by status (staged, pending, processing).",
            "status",
            state.tasks_by_status,
        )
        yield GaugeMetricFamily(
            "aceserve_queue_oldest_pending_seconds",
            "Age of the oldest pending task (0 when none waits).",
            value=state.oldest_pending_seconds,
        )
        yield _labelled(
            "aceserve_workers",
            "Workers by presence (starting, ready, busy, failed, stopped, gone).",
            "state",
            state.workers_by_presence,
        )
        yield _labelled(
            "aceserve_webhook_deliveries",
            "Webhook outbox rows by state: pending is the backlog, dead were given up.",
            "state",
            state.deliveries_by_state,
        )
        yield GaugeMetricFamily(
            "aceserve_webhook_oldest_due_seconds",
            "How long the most overdue pending webhook delivery has been due (0 when none).",
            value=state.oldest_due_delivery_seconds,
        )


def _labelled(name: str, documentation: str, label: str, values: dict[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], value)
    return family


class _ThisProcess:
    """This process's metrics (single-process mode: the library's default registry)."""

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def multiprocess_dir() -> str:
    return os.environ.get(MULTIPROC_ENV, "")


@contextmanager
def shared_between_processes() -> Iterator[None]:
    """Processes started inside (they inherit the environment) share their counters: every one's
    ``/metrics`` sums them all. ``PROMETHEUS_MULTIPROC_DIR`` is set to a fresh private directory,
    removed on exit, unless the operator already set one (then it is theirs to empty)."""
    if multiprocess_dir():
        yield
        return
    directory = tempfile.mkdtemp(prefix="aceserve-metrics-")
    os.environ[MULTIPROC_ENV] = directory
    try:
        yield
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(directory, ignore_errors=True)


def registry(shared: Callable[[], SharedState] | None = None) -> CollectorRegistry:
    """What a scrape shows: the per-process metrics (summed over every process sharing
    ``PROMETHEUS_MULTIPROC_DIR`` when set, else this process's), plus ``shared`` state if given."""
    collected = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        prometheus_multiprocess.MultiProcessCollector(collected)  # type: ignore[no-untyped-call]
    else:
        collected.register(_ThisProcess())  # type: ignore[arg-type]
    if shared is not None:
        collected.register(SharedStateCollector(shared))  # type: ignore[arg-type]
    return collected


def render(shared: Callable[[], SharedState] | None = None) -> bytes:
    """The text exposition of ``registry(shared)``."""
    return generate_latest(registry(shared))


def serve(host: str, port: int) -> Any:
    """Serve this process's metrics on ``host:port`` from a thread (a worker's ``--metrics-port``).
    Raises OSError when the port cannot be bound."""
    return start_http_server(port, addr=host, registry=registry())

"""The webhook sender: drains the outbox with leases, a small thread pool and retries.

One ``WebhookSender`` per process. ``run_forever`` keeps up to ``concurrency`` attempts in flight and
claims more as slots free up, so one slow receiver (up to the 15 s timeout) never holds back other
tasks' events. It sleeps until the next due delivery or ``webhook_poll_seconds``, whichever is
sooner, and ``wake()`` (called in-process after a commit that enqueued an event) ends the sleep at
once. Several senders, in one or many processes, may run against the same database: the outbox
lease makes sure one attempt is made by one sender.

Delivery is at least once: a sender that dies between the POST and recording it leaves a lease
that expires, and the row is sent again with the same ``webhook-id``.
"""

from __future__ import annotations

import logging
import random
import ssl
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import datetime, timedelta
from types import TracebackType
from typing import assert_never
from urllib.parse import urlsplit

import httpx

from aceserve.domain.text import storable_text
from aceserve.fetch.addresses import AddressPolicy, Resolver, resolve_with_getaddrinfo
from aceserve.settings import Settings
from aceserve.store import outbox_delivery
from aceserve.store.clock import utcnow
from aceserve.store.db import Database
from aceserve.store.outbox_delivery import DeliveryJob
from aceserve.telemetry import metrics
from aceserve.webhooks.attempt import AttemptResult, Outcome, post_once
from aceserve.webhooks.backoff import RetryPolicy, next_attempt_at
from aceserve.webhooks.endpoints import EndpointPolicy
from aceserve.webhooks.signing import UnsendableDelivery, build_request

logger = logging.getLogger("aceserve.webhooks")


class WebhookSender:
    """Delivers ``webhook_outbox`` rows. Use as a context manager (or call ``close``)."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        owner: str,
        policy: RetryPolicy | None = None,
        concurrency: int = 8,
        lease_seconds: float | None = None,
        clock: Callable[[], datetime] = utcnow,
        rand: Callable[[], float] = random.random,
        resolver: Resolver = resolve_with_getaddrinfo,
        is_allowed_address: AddressPolicy | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """``owner`` names this sender in leases (unique per process, e.g. host:pid:random).
        ``policy``, ``clock`` and ``rand`` exist so tests can shrink waits and control time;
        ``resolver``, ``is_allowed_address`` and ``ssl_context`` so they can map made-up names to
        loopback receivers (see :class:`EndpointPolicy`). Endpoints reach public addresses only
        unless ``settings.allow_private_webhooks``."""
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self._db = db
        self._owner = owner
        self._public_url = settings.public_url
        self._timeout = settings.webhook_timeout_seconds
        self._poll = settings.webhook_poll_seconds
        self._policy = policy or RetryPolicy(terminal_window=timedelta(hours=settings.webhook_retry_hours))
        self._concurrency = concurrency
        # Longer than one attempt can take (at most three timeouts: see ``post_once``), so a live
        # sender's lease never runs out under it and no second sender re-sends concurrently.
        self._lease_seconds = lease_seconds if lease_seconds is not None else 4 * self._timeout + 30
        self._clock = clock
        self._rand = rand
        self._endpoints = EndpointPolicy(
            allow_private=settings.allow_private_webhooks, resolver=resolver, is_allowed_address=is_allowed_address
        )
        # Built once: loading the CA bundle (certifi, as httpx does) costs milliseconds.
        self._ssl_context = ssl_context or httpx.create_ssl_context()
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="aceserve-webhook")
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._in_flight: set[Future[None]] = set()

    # --- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> WebhookSender:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Wait for attempts in flight, then release the threads."""
        self._pool.shutdown(wait=True)

    def wake(self) -> None:
        """Look at the outbox now (call after committing a transaction that enqueued an event)."""
        self._wake.set()

    # --- running ---------------------------------------------------------------------------------

    def run_once(self, limit: int | None = None) -> int:
        """Claim what is due (up to ``limit``, default ``concurrency``), attempt it all, wait for the
        outcomes to be recorded, and return how many attempts were made."""
        jobs = self._claim(limit or self._concurrency)
        wait([self._submit(job) for job in jobs])
        return len(jobs)

    def run_forever(self, stop: threading.Event) -> None:
        """Deliver until ``stop`` is set (set it, then call ``wake()`` to stop at once); attempts in
        flight are finished before returning."""
        logger.info("webhook sender %s started", self._owner)
        while not stop.is_set():
            self._wake.clear()
            free = self._concurrency - self._in_flight_count()
            if free > 0:
                try:
                    jobs = self._claim(free)
                except Exception:
                    logger.exception("webhook sender %s could not claim deliveries", self._owner)
                    jobs = []
                for job in jobs:
                    self._submit(job)
                if len(jobs) == free:
                    continue  # there may be more due right now
            self._wake.wait(self._idle_seconds(slots_full=free <= 0))
        with self._lock:
            in_flight = list(self._in_flight)
        wait(in_flight)
        logger.info("webhook sender %s stopped", self._owner)

    def _idle_seconds(self, *, slots_full: bool) -> float:
        """How long to sleep: until the next due delivery, at most the poll interval. With every slot
        busy, a finishing attempt wakes us; a due-but-unclaimable row (held back behind an earlier
        event of its task, or leased elsewhere) waits for the poll rather than spinning."""
        if slots_full:
            return self._poll
        try:
            due = outbox_delivery.next_due_at(self._db)
        except Exception:
            logger.exception("webhook sender %s could not read the outbox", self._owner)
            return self._poll
        if due is None:
            return self._poll
        until = (due - self._clock()).total_seconds()
        return self._poll if until <= 0 else min(self._poll, until)

    def _claim(self, limit: int) -> list[DeliveryJob]:
        return outbox_delivery.claim_due(
            self._db, owner=self._owner, limit=limit, lease_seconds=self._lease_seconds, now=self._clock()
        )

    def _in_flight_count(self) -> int:
        with self._lock:
            return len(self._in_flight)

    def _submit(self, job: DeliveryJob) -> Future[None]:
        future = self._pool.submit(self._deliver, job)
        with self._lock:
            self._in_flight.add(future)
        future.add_done_callback(self._done)
        return future

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._in_flight.discard(future)
        self._wake.set()  # a slot is free, and the task's next event may now go out

    # --- one attempt -----------------------------------------------------------------------------

    def _deliver(self, job: DeliveryJob) -> None:
        """Attempt ``job`` and record the outcome; never raises. An attempt that crashes is recorded
        as a failure with the reason, retried like any other until the retry window closes; if even
        that record cannot be made, the lease runs out and the row is claimed again."""
        try:
            result = self._attempt(job)
        except Exception as exc:
            logger.exception("webhook %s (task %s): attempt %d crashed", job.id, job.task_id, job.attempts)
            result = AttemptResult(Outcome.RETRY, None, f"the attempt crashed: {type(exc).__name__}: {exc}", 0.0)
        try:
            self._record(job, result)
        except Exception:
            logger.exception("webhook %s (task %s): recording attempt %d failed", job.id, job.task_id, job.attempts)

    def _attempt(self, job: DeliveryJob) -> AttemptResult:
        """One attempt. A body that cannot be built (whatever the stored event holds) can never be
        sent: the event stops at once, with the reason."""
        try:
            request = build_request(job, now=self._clock(), public_url=self._public_url)
        except UnsendableDelivery as exc:
            return AttemptResult(Outcome.STOP, None, str(exc), 0.0)
        except Exception as exc:
            logger.exception("webhook %s (task %s): the request cannot be built", job.id, job.task_id)
            return AttemptResult(Outcome.STOP, None, f"the request cannot be built: {type(exc).__name__}: {exc}", 0.0)
        return post_once(request, self._endpoints, timeout_seconds=self._timeout, ssl_context=self._ssl_context)

    def _record(self, job: DeliveryJob, result: AttemptResult) -> None:
        where = f"webhook {job.id} (task {job.task_id}) attempt {job.attempts} to {_host(job.endpoint)}"
        took = f"{result.elapsed_seconds * 1000:.0f} ms"
        metrics.observe_webhook_attempt(result.outcome.value)
        match result.outcome:
            case Outcome.DELIVERED:
                assert result.status_code is not None
                kept = outbox_delivery.mark_delivered(
                    self._db, job.id, self._owner, result.status_code, now=self._clock()
                )
                logger.info("%s: delivered, HTTP %s in %s", where, result.status_code, took)
            case Outcome.STOP:
                kept = self._fail(job, result, None)
                logger.warning("%s: giving up (%s) after %s", where, result.error, took)
            case Outcome.RETRY:
                retry_at = next_attempt_at(
                    self._policy,
                    attempt=job.attempts,
                    created_at=job.created_at,
                    now=self._clock(),
                    terminal=job.terminal,
                    rand=self._rand,
                )
                kept = self._fail(job, result, retry_at)
                if retry_at is None:
                    logger.warning("%s: failed (%s); retry window over, giving up", where, result.error)
                else:
                    logger.warning(
                        "%s: failed (%s) after %s; retry at %s", where, result.error, took, retry_at.isoformat()
                    )
            case _:
                assert_never(result.outcome)
        if not kept:
            logger.warning("%s: outcome not recorded, the lease was lost to another sender", where)

    def _fail(self, job: DeliveryJob, result: AttemptResult, retry_at: datetime | None) -> bool:
        return outbox_delivery.mark_failed(
            self._db,
            job.id,
            self._owner,
            error=storable_text(result.error),
            status_code=result.status_code,
            next_attempt_at=retry_at,
        )


def _host(endpoint: str) -> str:
    """The endpoint's host and port for logs (user info, paths and query strings may carry
    receivers' tokens)."""
    try:
        parts = urlsplit(endpoint)
        return f"{parts.hostname}:{parts.port}" if parts.port else (parts.hostname or "?")
    except ValueError:
        return "?"

"""A task's three stages in a worker: prepare (stored input → typed model → decoded audio → exact
cost), generate (the engine, a group at a time), finish (encode → store → complete); or a clear failure.

``worker/pipeline.py`` decides which thread runs which stage; every outcome is written here, under
the lease's fencing token, and every final write takes the task off the heartbeat.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aceserve.domain import billing
from aceserve.domain.errors import InsufficientCredit, InvalidInput, StaleLease, TaskCancelled, TaskInputError
from aceserve.domain.inputs_models import Audio2AudioInput, TaskInput, load_input
from aceserve.domain.limits import SAMPLE_RATE
from aceserve.domain.states import OutputFormat, TaskPhase
from aceserve.domain.text import storable_text
from aceserve.engine.faults import is_worker_fault
from aceserve.engine.types import Audio, Engine, GenerationRequest, GenerationResult
from aceserve.media import encode_audio
from aceserve.settings import Settings
from aceserve.storage import FileStorage
from aceserve.store import queue
from aceserve.store.db import Database
from aceserve.store.files import file_path, put_file
from aceserve.store.models import StoredFile
from aceserve.worker.heartbeat import Heartbeat
from aceserve.worker.inputs import InputResolver
from aceserve.worker.request import generation_request
from aceserve.worker.stages import Stage, StageClock

log = logging.getLogger("aceserve.worker")
MAX_DRAWN_SEED = 2**32


class Encode(Protocol):
    """Audio to a file's bytes: ``aceserve.media.encode_audio`` or an ``IsolatedEncoder``'s ``encode``."""

    def __call__(self, audio: Audio, *, sample_rate: int, fmt: OutputFormat) -> bytes: ...


@dataclass(frozen=True)
class Prepared:
    lease: queue.Lease
    task_input: TaskInput
    request: GenerationRequest


@dataclass(frozen=True)
class Generated:
    """A task whose audio the engine made: what the finish stage encodes, stores and completes."""

    item: Prepared
    result: GenerationResult

    @property
    def task_id(self) -> str:
        return self.item.lease.task_id


HandOff = Callable[[Generated], None]
"""Takes a generated task to its finish stage (the encode pool, or at once in this thread)."""


class BatchRunner:
    """Turns leases into finished tasks, one stage at a time; any thread may run any stage.

    ``beat`` covers the leases (the worker's running heartbeat); without one, leases are tracked but
    renewed only by the final writes, enough for a batch run within its lease (``run``).

    ``stopping`` is the worker's shutdown flag: a running group stops within a step and its tasks go
    back to the queue untouched (not cancelled, no attempt used), as do tasks not yet generated.
    """

    def __init__(
        self,
        settings: Settings,
        db: Database,
        storage: FileStorage,
        engine: Engine,
        inputs: InputResolver,
        beat: Heartbeat | None = None,
        *,
        stopping: threading.Event | None = None,
        clock: StageClock | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.storage = storage
        self.engine = engine
        self.inputs = inputs
        self.beat = beat or Heartbeat(db, interval=settings.heartbeat_seconds, lease_seconds=settings.lease_seconds)
        self.stopping = stopping or threading.Event()
        self.clock = clock or StageClock()

    def run(self, leases: list[queue.Lease], encode: Encode = encode_audio) -> None:
        """One claimed batch, every stage in this thread (not pipelined; tests and tools)."""
        self.generate(self.prepare(leases), lambda job: self.finish(job, encode))

    # --- prepare -----------------------------------------------------------------------------------

    def prepare(self, leases: list[queue.Lease]) -> list[Prepared]:
        """Prepare a claimed batch; tasks that cannot run are ended (or released when stopping)."""
        self.beat.add(leases)
        prepared = []
        for lease in leases:
            item = None if self.stopping.is_set() else self._prepare(lease)
            if item is not None:
                prepared.append(item)
            elif self.stopping.is_set():
                self.release(lease)
            else:
                self.beat.finish(lease.task_id)  # already failed, or taken over
        self.beat.set_phase([item.lease.task_id for item in prepared], TaskPhase.WAITING)
        return prepared

    def _prepare(self, lease: queue.Lease) -> Prepared | None:
        """Load the input, fetch and decode its audio, and record the seed and the exact cost."""
        try:
            with self.clock.timing(Stage.PREPARE):
                task_input = load_input(lease.task_type, lease.input)
                seed = secrets.randbelow(MAX_DRAWN_SEED) if task_input.seed is None else task_input.seed
                audio = self.inputs.audio_for(task_input)
                input_seconds = None if audio is None else audio.shape[-1] / SAMPLE_RATE
                estimate = billing.estimate(task_input, input_seconds)
                resolved: dict[str, Any] = {}
                if (
                    isinstance(task_input, Audio2AudioInput)
                    and task_input.duration is None
                    and input_seconds is not None
                ):
                    resolved["duration"] = round(input_seconds, 3)  # the echo shows the default once it is known
                    task_input = task_input.model_copy(update=resolved)
                price = self.settings.price_usd_per_second
                queue.start(
                    self.db,
                    lease,
                    seed=seed,
                    frozen_units=billing.freeze_units(estimate.seconds, price),
                    why=estimate.describe(price),
                    input_update=resolved,
                )
                return Prepared(lease, task_input, generation_request(task_input, seed=seed, audio=audio))
        except InsufficientCredit as exc:
            self.fail(lease, exc.message, retryable=False, code=InsufficientCredit.status_code)
        except InvalidInput as exc:
            self.fail(lease, exc.message, retryable=False)
        except TaskInputError as exc:
            self.fail(lease, str(exc), retryable=False)
        except StaleLease:
            log.warning("task %s was taken over before it started here", lease.task_id)
        except Exception as exc:
            log.exception("preparing task %s failed", lease.task_id)
            self.fail(lease, f"Preparing the task failed: {exc}", retryable=True)
        return None

    # --- generate ----------------------------------------------------------------------------------

    def generate(self, prepared: list[Prepared], hand_off: HandOff) -> None:
        """Run a prepared batch on the engine, one compatible group at a time; each generated task
        goes to ``hand_off``. Tasks cancelled or lost while they waited end here."""
        self.beat.poll_cancelled(force=True)
        waiting = []
        for item in prepared:
            if not self._still_wanted(item.lease):
                continue
            if self.stopping.is_set():
                self.release(item.lease)
                continue
            waiting.append(item)
        groups: dict[str, list[Prepared]] = {}
        for item in waiting:
            groups.setdefault(self.engine.batch_key(item.request), []).append(item)
        for group in groups.values():
            if self.stopping.is_set():
                for item in group:
                    self.release(item.lease)
                continue
            self._run_group(group, hand_off)

    def _still_wanted(self, lease: queue.Lease) -> bool:
        """False (and the task ended here) when it was taken over or its client cancelled."""
        if self.beat.is_lost(lease.task_id):
            self.beat.finish(lease.task_id)
            return False
        if self.beat.is_cancelled(lease.task_id):
            self.finish_cancelled(lease)
            return False
        return True

    def _run_group(self, group: list[Prepared], hand_off: HandOff) -> None:
        if not group:
            return
        beat = self.beat

        def should_cancel() -> bool:
            if self.stopping.is_set():
                return True
            beat.poll_cancelled()
            return beat.all_stopped()

        beat.start_group({item.lease.task_id for item in group})
        try:
            with self.clock.timing(Stage.GENERATE):
                results = self.engine.generate(
                    [item.request for item in group], on_progress=beat.report_progress, should_cancel=should_cancel
                )
        except TaskCancelled:
            for item in group:
                if self._still_wanted(item.lease):
                    self.release(item.lease)  # stopped by shutdown: back to the queue
            return
        except Exception as exc:
            self._attribute_failure(group, hand_off, exc)
            return
        finally:
            beat.end_group()
        beat.poll_cancelled(force=True)
        for item, result in zip(group, results, strict=True):
            if self._still_wanted(item.lease):
                beat.set_phase([item.lease.task_id], TaskPhase.ENCODING)
                hand_off(Generated(item, result))

    def _attribute_failure(self, group: list[Prepared], hand_off: HandOff, exc: Exception) -> None:
        """Pin a failed run on the task that caused it: a batch is re-run in halves until the error
        is one task's, which fails alone; the others run as if it had never been there. Only a
        worker fault (device lost, out of memory) fails every task of the group (retryable)."""
        reason = storable_text(f"{type(exc).__name__}: {exc}")
        if is_worker_fault(exc):
            log.error("worker fault on %d task(s): %s", len(group), reason)
            for item in group:
                self.fail(item.lease, f"The worker failed: {reason}", retryable=True)
            return
        if len(group) > 1:
            log.warning(
                "a batch of %d tasks failed (%s); re-running it in halves to find the cause", len(group), reason
            )
            middle = len(group) // 2
            for half in (group[:middle], group[middle:]):
                self._run_group([item for item in half if self._still_wanted(item.lease)], hand_off)
            return
        lease = group[0].lease
        if isinstance(exc, TaskInputError):
            self.fail(lease, storable_text(str(exc)), retryable=False)
            return
        log.error("task %s failed in the engine: %s", lease.task_id, reason, exc_info=exc)
        self.fail(lease, f"The engine failed: {reason}", retryable=True)

    # --- finish ------------------------------------------------------------------------------------

    def finish(self, job: Generated, encode: Encode) -> None:
        """Encode, store and record one result; any failure fails this task alone (retryable).
        A cancel that arrived meanwhile wins: the task ends cancelled, its output thrown away."""
        item, result = job.item, job.result
        lease = item.lease
        self.beat.poll_cancelled(force=True)
        if not self._still_wanted(lease):
            return
        fmt = item.task_input.output_format
        seconds = result.audio.shape[-1] / result.sample_rate
        try:
            with self.clock.timing(Stage.ENCODE):
                data = encode(result.audio, sample_rate=result.sample_rate, fmt=fmt)
        except Exception as exc:
            log.exception("encoding the output of task %s failed", lease.task_id)
            self.fail(lease, f"Encoding the output failed: {exc}", retryable=True)
            return
        record = None
        try:
            with self.clock.timing(Stage.STORE):
                record = put_file(
                    self.storage,
                    data,
                    kind="output",
                    ext=fmt.value,
                    retention_hours=self.settings.output_retention_hours,
                    account_id=lease.account_id,
                    task_id=lease.task_id,
                    seconds=seconds,
                )
                meta = {
                    "duration": round(seconds, 3),
                    **{k: v for k, v in result.meta.items() if k in ("steps", "guidance_scale", "variant", "plan")},
                }
                self.beat.finish(lease.task_id)  # the final write: no beat may race it
                completed = queue.complete(
                    self.db,
                    lease,
                    output={"audio_url": file_path(record)},
                    seconds=seconds,
                    price_usd_per_second=self.settings.price_usd_per_second,
                    file=record,
                    meta=meta,
                    logs=result.notes,
                )
            if not completed:  # the client cancelled while the output was being encoded or stored
                self.storage.delete(record.storage_key)
        except StaleLease:
            self._discard(record)
            self.beat.finish(lease.task_id)
            log.warning("task %s was taken over by another worker; dropping this result", lease.task_id)
        except Exception as exc:
            self._discard(record)
            log.exception("storing the output of task %s failed", lease.task_id)
            self.fail(lease, f"Storing the output failed: {exc}", retryable=True)

    def _discard(self, record: StoredFile | None) -> None:
        if record is not None:
            with contextlib.suppress(Exception):
                self.storage.delete(record.storage_key)

    # --- final writes ------------------------------------------------------------------------------

    def finish_cancelled(self, lease: queue.Lease) -> None:
        self._record("recording the cancel of", lease, queue.finish_cancelled)

    def release(self, lease: queue.Lease) -> None:
        """Hand the task back to the queue untouched (shutdown)."""
        self._record("releasing", lease, queue.release)

    def fail(self, lease: queue.Lease, message: str, *, retryable: bool, code: int | None = None) -> None:
        self._record(
            "recording the failure of",
            lease,
            queue.fail,
            message=message,
            raw=message,
            retryable=retryable,
            max_attempts=self.settings.max_attempts,
            code=code,
        )

    def _record(self, what: str, lease: queue.Lease, write: Callable[..., object], **kwargs: Any) -> None:
        """A final write for one task, which leaves the heartbeat first. If the write cannot be made,
        the lease runs out and the reaper decides, so one task's trouble never stops the rest."""
        self.beat.finish(lease.task_id)
        try:
            write(self.db, lease, **kwargs)
        except StaleLease:
            log.warning("task %s was taken over; not %s it here", lease.task_id, what)
        except Exception:
            log.exception("%s task %s failed; the reaper will take it when its lease expires", what, lease.task_id)

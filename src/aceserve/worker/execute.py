"""Running one claimed batch: inputs → engine → encoded file → completion, or a clear failure."""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aceserve.domain import billing
from aceserve.domain.errors import InsufficientCredit, InvalidInput, StaleLease, TaskCancelled, TaskInputError
from aceserve.domain.inputs_models import Audio2AudioInput, TaskInput, load_input
from aceserve.domain.limits import SAMPLE_RATE
from aceserve.domain.text import storable_text
from aceserve.engine.faults import is_worker_fault
from aceserve.engine.types import Engine, GenerationRequest, GenerationResult
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

log = logging.getLogger("aceserve.worker")
MAX_DRAWN_SEED = 2**32


@dataclass(frozen=True)
class Prepared:
    lease: queue.Lease
    task_input: TaskInput
    request: GenerationRequest


class BatchRunner:
    """Turns leases into finished tasks. Every outcome is written under the lease's fencing token.

    ``stopping`` is the worker's shutdown flag: a running group stops within a step and its tasks go
    back to the queue untouched (not cancelled, no attempt used), as do groups not yet started.
    """

    def __init__(
        self,
        settings: Settings,
        db: Database,
        storage: FileStorage,
        engine: Engine,
        inputs: InputResolver,
        stopping: threading.Event | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.storage = storage
        self.engine = engine
        self.inputs = inputs
        self.stopping = stopping or threading.Event()

    def run(self, leases: list[queue.Lease]) -> None:
        with Heartbeat(
            self.db, leases, interval=self.settings.heartbeat_seconds, lease_seconds=self.settings.lease_seconds
        ) as beat:
            prepared = []
            for lease in leases:
                item = None if self.stopping.is_set() else self._prepare(lease)
                if item is None:
                    if self.stopping.is_set():
                        self._release(lease)
                    beat.finish(lease.task_id)
                else:
                    prepared.append(item)
            groups: dict[str, list[Prepared]] = {}
            for item in prepared:
                groups.setdefault(self.engine.batch_key(item.request), []).append(item)
            for group in groups.values():
                if self.stopping.is_set():
                    for item in group:
                        self._release(item.lease)
                    continue
                self._run_group(group, beat)
                for item in group:
                    beat.finish(item.lease.task_id)

    def _prepare(self, lease: queue.Lease) -> Prepared | None:
        """Load the input, fetch and decode its audio, and record the seed and the exact cost."""
        try:
            task_input = load_input(lease.task_type, lease.input)
            seed = secrets.randbelow(MAX_DRAWN_SEED) if task_input.seed is None else task_input.seed
            audio = self.inputs.audio_for(task_input)
            input_seconds = None if audio is None else audio.shape[-1] / SAMPLE_RATE
            estimate = billing.estimate(task_input, input_seconds)
            resolved: dict[str, Any] = {}
            if isinstance(task_input, Audio2AudioInput) and task_input.duration is None and input_seconds is not None:
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
            self._fail(lease, exc.message, retryable=False, code=InsufficientCredit.status_code)
        except InvalidInput as exc:
            self._fail(lease, exc.message, retryable=False)
        except TaskInputError as exc:
            self._fail(lease, str(exc), retryable=False)
        except StaleLease:
            log.warning("task %s was taken over before it started here", lease.task_id)
        except Exception as exc:
            log.exception("preparing task %s failed", lease.task_id)
            self._fail(lease, f"Preparing the task failed: {exc}", retryable=True)
        return None

    def _run_group(self, group: list[Prepared], beat: Heartbeat) -> None:
        def should_cancel() -> bool:
            if self.stopping.is_set():
                return True
            beat.poll_cancelled()
            return beat.all_stopped()

        beat.start_group({item.lease.task_id for item in group})
        try:
            results = self.engine.generate(
                [item.request for item in group], on_progress=beat.report_progress, should_cancel=should_cancel
            )
        except TaskCancelled:
            for item in group:
                if item.lease.task_id in beat.cancelled:
                    self._finish_cancelled(item.lease)
                elif item.lease.task_id not in beat.lost:
                    self._release(item.lease)  # stopped by shutdown: back to the queue
            return
        except Exception as exc:
            self._attribute_failure(group, beat, exc)
            return
        beat.poll_cancelled()
        for item, result in zip(group, results, strict=True):
            task_id = item.lease.task_id
            if task_id in beat.lost:
                continue
            if task_id in beat.cancelled:
                self._finish_cancelled(item.lease)
                continue
            self._complete(item, result)

    def _attribute_failure(self, group: list[Prepared], beat: Heartbeat, exc: Exception) -> None:
        """Pin a failed run on the task that caused it: a batch is re-run in halves until the error
        is one task's, which fails alone; the others run as if it had never been there. Only a
        worker fault (device lost, out of memory) fails every task of the group (retryable)."""
        reason = storable_text(f"{type(exc).__name__}: {exc}")
        if is_worker_fault(exc):
            log.error("worker fault on %d task(s): %s", len(group), reason)
            for item in group:
                self._fail(item.lease, f"The worker failed: {reason}", retryable=True)
            return
        if len(group) > 1:
            log.warning(
                "a batch of %d tasks failed (%s); re-running it in halves to find the cause", len(group), reason
            )
            middle = len(group) // 2
            for half in (group[:middle], group[middle:]):
                self._run_group(half, beat)
            return
        lease = group[0].lease
        if isinstance(exc, TaskInputError):
            self._fail(lease, storable_text(str(exc)), retryable=False)
            return
        log.error("task %s failed in the engine: %s", lease.task_id, reason, exc_info=exc)
        self._fail(lease, f"The engine failed: {reason}", retryable=True)

    def _complete(self, item: Prepared, result: GenerationResult) -> None:
        """Encode, store and record one result; any failure fails this task alone (retryable)."""
        lease = item.lease
        fmt = item.task_input.output_format
        seconds = result.audio.shape[-1] / result.sample_rate
        record = None
        try:
            data = encode_audio(result.audio, sample_rate=result.sample_rate, fmt=fmt)
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
            if not completed:  # the client cancelled while the output was being stored
                self.storage.delete(record.storage_key)
        except StaleLease:
            self._discard(record)
            log.warning("task %s was taken over by another worker; dropping this result", lease.task_id)
        except Exception as exc:
            self._discard(record)
            log.exception("recording the output of task %s failed", lease.task_id)
            self._fail(lease, f"Storing the output failed: {exc}", retryable=True)

    def _discard(self, record: StoredFile | None) -> None:
        if record is not None:
            with contextlib.suppress(Exception):
                self.storage.delete(record.storage_key)

    def _finish_cancelled(self, lease: queue.Lease) -> None:
        self._record("recording the cancel of", lease, queue.finish_cancelled)

    def _release(self, lease: queue.Lease) -> None:
        self._record("releasing", lease, queue.release)

    def _fail(self, lease: queue.Lease, message: str, *, retryable: bool, code: int | None = None) -> None:
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
        """A final write for one task. If it cannot be made, the lease runs out and the reaper
        decides, so one task's trouble never stops the rest of the batch."""
        try:
            write(self.db, lease, **kwargs)
        except StaleLease:
            log.warning("task %s was taken over; not %s it here", lease.task_id, what)
        except Exception:
            log.exception("%s task %s failed; the reaper will take it when its lease expires", what, lease.task_id)

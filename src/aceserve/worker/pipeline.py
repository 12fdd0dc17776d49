"""Which thread runs which stage, so the device never waits for the CPU when it need not.

Three stages (``worker/execute.py``): prepare (claim, fetch and decode inputs, record the cost),
generate (``Engine.generate``), finish (encode, store, complete). Pipelined:

- a prefetch thread claims and prepares up to ``prefetch`` batches ahead of the device;
- the device lane (the worker's thread) takes a prepared batch, generates it group by group and hands
  each generated task to the encode pool;
- the encode pool (``worker/encoding.py``) finishes tasks on its threads, its ``submit`` blocking
  while it is full.

Everything is bounded: at most ``prefetch`` prepared batches wait (their decoded inputs in memory),
one batch is on the device, and the pool holds at most its size plus its capacity of generated
outputs. Not pipelined (``prefetch`` 0 and a pool of size 0), one thread runs the three stages in
turn, a batch at a time. The heartbeat covers every held task in every stage; on shutdown the
running group stops within a step and every task not finished goes back to the queue.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from aceserve.store.queue import Lease
from aceserve.worker.encoding import EncodePool
from aceserve.worker.execute import BatchRunner, Prepared

log = logging.getLogger("aceserve.worker")

Claim = Callable[[], list[Lease]]
"""Claims the next batch; waits (a short while) for work and returns [] when there is none."""

_POLL_SECONDS = 0.2
_ERROR_PAUSE_SECONDS = 1.0


class Pipeline:
    def __init__(
        self,
        runner: BatchRunner,
        pool: EncodePool,
        claim: Claim,
        *,
        prefetch: int,
        stop: threading.Event,
        on_busy: Callable[[list[str]], None] = lambda ids: None,
        on_idle: Callable[[], None] = lambda: None,
    ) -> None:
        if prefetch < 0:
            raise ValueError(f"prefetch must be >= 0, got {prefetch}")
        self.runner = runner
        self.pool = pool
        self.claim = claim
        self.prefetch = prefetch
        self.stop = stop
        self.on_busy = on_busy
        self.on_idle = on_idle
        self._ready: queue.Queue[list[Prepared]] = queue.Queue()
        self._slots = threading.Semaphore(max(1, prefetch))
        self._busy = False

    def run(self) -> None:
        """Serve until ``stop`` is set; returns with every prepared task run or handed back."""
        if self.prefetch == 0:
            while not self.stop.is_set():
                self._guarded(self._claim_and_generate)
            return
        prefetcher = threading.Thread(target=self._prefetch, name="prefetch", daemon=True)
        prefetcher.start()
        try:
            while not self.stop.is_set():
                try:
                    batch = self._ready.get(timeout=_POLL_SECONDS)
                except queue.Empty:
                    self._idle()
                    continue
                self._slots.release()
                self._guarded(self._generate, batch)
        finally:
            prefetcher.join()
            self._hand_back_ready()

    # --- not pipelined: one stage after the other --------------------------------------------------

    def _claim_and_generate(self) -> None:
        leases = self.claim()
        if not leases:
            self._idle()
            return
        self._generate(self.runner.prepare(leases))

    # --- pipelined ---------------------------------------------------------------------------------

    def _prefetch(self) -> None:
        """Claim and prepare while the device works, at most ``prefetch`` batches ahead of it."""
        while not self.stop.is_set():
            if not self._slots.acquire(timeout=_POLL_SECONDS):
                continue
            queued = False
            try:
                leases = self.claim()
                if leases:
                    prepared = self.runner.prepare(leases)  # releases them if the worker is stopping
                    if prepared:
                        self._ready.put(prepared)
                        queued = True
            except Exception:
                log.exception("claiming or preparing a batch failed; retrying")
                self.stop.wait(_ERROR_PAUSE_SECONDS)
            finally:
                if not queued:
                    self._slots.release()

    def _hand_back_ready(self) -> None:
        """On shutdown: prepared batches that never reached the device go back to the queue."""
        while True:
            try:
                batch = self._ready.get_nowait()
            except queue.Empty:
                return
            for item in batch:
                self.runner.release(item.lease)

    # --- the device lane ---------------------------------------------------------------------------

    def _generate(self, batch: list[Prepared]) -> None:
        if not batch:
            return
        self._busy = True
        self.on_busy([item.lease.task_id for item in batch])
        self.runner.generate(batch, self.pool.submit)

    def _idle(self) -> None:
        if self._busy:
            self._busy = False
            self.on_idle()

    def _guarded(self, step: Callable[..., None], *args: object) -> None:
        try:
            step(*args)
        except Exception:
            log.exception("worker cycle failed; retrying")
            self.stop.wait(_ERROR_PAUSE_SECONDS)

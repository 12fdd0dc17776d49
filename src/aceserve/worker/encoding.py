"""The finish stage's pool: generated tasks are encoded, stored and completed here while the device
runs the next batch.

Each of the pool's threads owns one encoder: an ``IsolatedEncoder`` (its own helper process, so a
crash in LAME or libsndfile fails that one task) or, with isolation off, ``encode_audio`` in the
thread itself (LAME and libsndfile release the GIL while they encode, so threads do run in parallel;
the README has the figures). Storing and the database writes run in the thread either way.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from types import TracebackType

from aceserve.media import encode_audio
from aceserve.media.isolated import IsolatedEncoder
from aceserve.worker.execute import Encode, Generated

log = logging.getLogger("aceserve.worker")

Finish = Callable[[Generated, Encode], None]
"""Encodes, stores and completes one task (``BatchRunner.finish``); never raises for the task's sake."""

EncoderFactory = Callable[[], IsolatedEncoder | None]
"""A new encoder for one thread of the pool: an ``IsolatedEncoder``, or None to encode in the thread."""

_SUBMIT_POLL_SECONDS = 0.2


class EncodePool:
    """Finishes generated tasks on ``size`` threads; ``submit`` hands one over.

    Back-pressure: ``submit`` blocks while ``size`` jobs are being finished and ``capacity`` more
    wait, so the device lane waits for the encoders instead of piling up generated audio. With
    ``size`` 0 there are no threads: ``submit`` finishes the job in the calling thread (pipelining off).

    ``close()`` (on the worker's shutdown) lets each thread finish the job it has, and hands back
    (``release``) every job not yet started, as does a ``submit`` blocked when ``stopping`` is set.
    """

    def __init__(
        self,
        finish: Finish,
        release: Callable[[Generated], None],
        *,
        size: int,
        capacity: int,
        make_encoder: EncoderFactory,
        stopping: threading.Event,
        on_finished: Callable[[], None] = lambda: None,
    ) -> None:
        if size < 0 or capacity < 1:
            raise ValueError(f"an encode pool needs size >= 0 and capacity >= 1, got {size} and {capacity}")
        self.size = size
        self._finish = finish
        self._release = release
        self._make_encoder = make_encoder
        self._stopping = stopping
        self._on_finished = on_finished
        self._closing = False
        self._jobs: queue.Queue[Generated | None] = queue.Queue()
        self._room = threading.Semaphore(size + capacity)
        self._threads = [
            threading.Thread(target=self._serve, name=f"encode-{index}", daemon=True) for index in range(size)
        ]
        self._inline_encoder: IsolatedEncoder | None = None
        self._inline_made = False

    def __enter__(self) -> EncodePool:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def submit(self, job: Generated) -> None:
        """Hand a generated task over; blocks while the pool is full (or finishes it here, size 0)."""
        if self.size == 0:
            self._run(job, self._inline())
            return
        while not self._room.acquire(timeout=_SUBMIT_POLL_SECONDS):
            if self._stopping.is_set() or self._closing:
                self._hand_back(job)
                return
        self._jobs.put(job)

    def close(self) -> None:
        """Finish the jobs in hand, hand back the rest, stop the threads and their encoders."""
        self._closing = True
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join()
        while True:  # jobs a stopped thread never took (none, unless a thread died)
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                self._hand_back(job)
        if self._inline_encoder is not None:
            self._inline_encoder.close()

    def _inline(self) -> Encode:
        if not self._inline_made:
            self._inline_encoder = self._make_encoder()
            self._inline_made = True
        return encode_audio if self._inline_encoder is None else self._inline_encoder.encode

    def _serve(self) -> None:
        encoder = None
        try:
            encoder = self._make_encoder()
            encode = encode_audio if encoder is None else encoder.encode
            if encoder is not None:
                try:
                    encoder.start()
                except RuntimeError:
                    log.exception("an encoder process could not be started; trying again on its first output")
            while True:
                job = self._jobs.get()
                if job is None:
                    return
                try:
                    if self._stopping.is_set() or self._closing:
                        self._hand_back(job)
                    else:
                        self._run(job, encode)
                finally:
                    self._room.release()
        except Exception:
            log.exception("an encode thread stopped; its tasks' leases will run out and be re-queued")
        finally:
            if encoder is not None:
                encoder.close()

    def _run(self, job: Generated, encode: Encode) -> None:
        try:
            self._finish(job, encode)
        except Exception:
            log.exception("finishing task %s failed unexpectedly", job.task_id)
        self._on_finished()

    def _hand_back(self, job: Generated) -> None:
        try:
            self._release(job)
        except Exception:
            log.exception("handing back task %s failed", job.task_id)

"""Where a worker's time goes: seconds per stage of its tasks, for the bench and for ``/metrics``."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum

from aceserve.telemetry.metrics import observe_stage


class Stage(StrEnum):
    PREPARE = "prepare"  # load the input, fetch and decode its audio, record the seed and cost
    GENERATE = "generate"  # inside Engine.generate: the device's busy time
    ENCODE = "encode"  # the output to mp3/wav/flac bytes
    STORE = "store"  # write the file, complete the task


class StageClock:
    """Adds up the seconds spent in each stage (several threads at once count separately)."""

    def __init__(self) -> None:
        self._seconds = dict.fromkeys(Stage, 0.0)
        self._lock = threading.Lock()

    @contextmanager
    def timing(self, stage: Stage) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            with self._lock:
                self._seconds[stage] += elapsed
            observe_stage(stage.value, elapsed)

    def seconds(self) -> dict[Stage, float]:
        with self._lock:
            return dict(self._seconds)

"""Probing audio a request carries, in the API process's helpers: a crafted file that crashes FFmpeg
fails its own request with a 400, never the API process and every request in flight with it.

The create step and uploads measure input audio (``probe_seconds``: demux and a few packets decoded)
before they accept it. :class:`IsolatedProber` runs that in a few helper processes (started on first
use, replaced after a crash or a timeout); :class:`InProcessProber` runs it in the calling thread,
for deployments that switch isolation off (``isolate_decoding = false``).
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from typing import Final, Protocol

from aceserve.media.helper import HelperProcess
from aceserve.media.isolated import call_on_input
from aceserve.media.probe import probe_seconds

ProbeTarget = Callable[[bytes, str, float], float]
"""What a probing child runs: ``(data, field, max_seconds) -> seconds``; a module-level function."""

DEFAULT_PROBE_PROCESSES: Final = 2
"""Probes take milliseconds: two helpers keep one slow file from holding up the others."""


class AudioProber(Protocol):
    def probe(self, data: bytes, *, field: str, max_seconds: float) -> float:
        """Seconds of audio in ``data``; ``TaskInputError`` naming ``field`` when it is not usable audio."""
        ...

    def close(self) -> None: ...


def _probe(data: bytes, field: str, max_seconds: float) -> float:
    return probe_seconds(data, field=field, max_seconds=max_seconds)


class InProcessProber:
    """``probe_seconds`` in the calling thread."""

    def probe(self, data: bytes, *, field: str, max_seconds: float) -> float:
        return probe_seconds(data, field=field, max_seconds=max_seconds)

    def close(self) -> None:
        return None


class IsolatedProber:
    """``probe_seconds`` in ``processes`` helper processes, one call each at a time; callers beyond
    that wait for a free one.

    ``_target`` is a test seam, for tests only: the module-level function the children run instead of
    probing, so a test can make a real helper process crash or hang.
    """

    def __init__(
        self,
        *,
        processes: int = DEFAULT_PROBE_PROCESSES,
        timeout_seconds: float,
        _target: ProbeTarget = _probe,
    ) -> None:
        if processes < 1:
            raise ValueError(f"processes must be at least 1, got {processes}")
        if timeout_seconds <= 0:
            raise ValueError(f"timeout_seconds must be positive, got {timeout_seconds}")
        self.timeout_seconds = timeout_seconds
        self._target = _target
        self._helpers = [HelperProcess("the audio probe process") for _ in range(processes)]
        self._idle: queue.SimpleQueue[HelperProcess] = queue.SimpleQueue()
        for helper in self._helpers:
            self._idle.put(helper)

    def probe(self, data: bytes, *, field: str, max_seconds: float) -> float:
        """As ``probe_seconds``; a crash or a probe over ``timeout_seconds`` is a ``TaskInputError`` too.

        Raises:
            TaskInputError: the file is bad (the child's message, unchanged), crashed the decoder, or
                took too long.
            RuntimeError: the prober is closed or a helper could not be started (our problem).
        """
        helper = self._idle.get()
        try:
            return call_on_input(
                helper, self.timeout_seconds, field, "reading it", self._target, data, field, max_seconds
            )
        finally:
            self._idle.put(helper)

    def close(self) -> None:
        """Stop the helper processes; further probes raise ``RuntimeError``."""
        for helper in self._helpers:
            helper.close()

"""Decode untrusted audio in a helper process, so that a crash in FFmpeg or PyAV fails one task only.

A native crash (a segfault in PyAV or FFmpeg on a crafted file) would otherwise kill the GPU worker
that decodes in its own process; the task would then be claimed by the next worker, which would crash
too. :class:`IsolatedDecoder` runs :func:`aceserve.media.decode_audio` in one long-lived child process
instead and turns the child's death into a :class:`TaskInputError` for that file.

Decoded audio can be large (600 s is 230 MB of float32). Pickled through the pool's pipe that took
about 0.8 s, so audio of 16 MiB or more (about 44 s) comes back through a shared-memory block
instead (about 0.25 s for 600 s): the child copies it in, the parent copies it out and unlinks the
block. Where ``/dev/shm`` lacks the room (containers default to 64 MB) it goes through the pipe.

The child is started with ``spawn``, never ``fork``: the worker process has torch (and its thread
pools) loaded, and a forked copy of a threaded process may deadlock. The spawned child imports only
this package (plus the parent's ``__main__`` script, as ``spawn`` always does, whose entry point
does not import torch).
"""

from __future__ import annotations

import concurrent.futures
import faulthandler
import logging
import multiprocessing
import multiprocessing.connection
import os
import threading
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import shared_memory
from typing import Final

import numpy as np

from aceserve.domain.errors import TaskInputError
from aceserve.media.decode import decode_audio
from aceserve.media.formats import Audio

log = logging.getLogger("aceserve.media")

DecodeTarget = Callable[[bytes, float, str], Audio]
"""What the child runs: ``(data, max_seconds, field) -> audio``; a module-level function (pickled by name)."""

DEFAULT_TIMEOUT_SECONDS: Final = 120.0
"""Longest one decode may take (600 s of audio decodes in a few seconds) before the child is killed."""

_START_TIMEOUT_SECONDS: Final = 60.0

# Audio at least this large comes back through shared memory (16 MiB is about 44 s); smaller audio
# through the pipe, where it costs a few milliseconds.
_SHARED_MEMORY_MIN_BYTES: Final = 16 * 1024 * 1024
_SHARED_MEMORY_DIR: Final = "/dev/shm"


@dataclass(frozen=True)
class _Shared:
    """Audio the child left in the shared-memory block ``name``, for the parent to copy out and unlink."""

    name: str
    shape: tuple[int, ...]


def _decode(data: bytes, max_seconds: float, field: str) -> Audio:
    return decode_audio(data, max_seconds=max_seconds, field=field)


def _run(target: DecodeTarget, data: bytes, max_seconds: float, field: str) -> Audio | _Shared:
    """The child's side of one call."""
    return _hand_over(target(data, max_seconds, field))


def _hand_over(audio: Audio) -> Audio | _Shared:
    """Put large audio in a new shared-memory block (its name goes back); small audio goes back itself."""
    if audio.nbytes < _SHARED_MEMORY_MIN_BYTES or _shared_memory_room() < 2 * audio.nbytes:
        return audio  # a full /dev/shm would kill the child with SIGBUS while it copies
    try:
        block = shared_memory.SharedMemory(create=True, size=audio.nbytes)
    except OSError:
        return audio
    try:
        _view(block, audio.shape)[...] = audio
    except BaseException:
        block.close()
        block.unlink()
        raise
    block.close()
    return _Shared(block.name, audio.shape)


def _take(result: Audio | _Shared) -> Audio:
    """The parent's side: the audio itself, copied out of its shared-memory block (then unlinked)."""
    if not isinstance(result, _Shared):
        return result
    block = shared_memory.SharedMemory(name=result.name)
    try:
        return _view(block, result.shape).copy()
    finally:
        block.close()
        block.unlink()


def _view(block: shared_memory.SharedMemory, shape: tuple[int, ...]) -> Audio:
    """Float32 samples over the block; drop the view before closing the block."""
    return np.ndarray(shape, dtype=np.float32, buffer=block.buf)


def _shared_memory_room() -> int:
    try:
        stats = os.statvfs(_SHARED_MEMORY_DIR)
    except OSError:
        return 0
    return stats.f_bavail * stats.f_frsize


def _start_child() -> None:
    """Runs first in the child: a native crash then prints the Python stack to stderr (our logs), and
    the child exits when the worker dies (killed, say), instead of lingering as an orphan."""
    faulthandler.enable()
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with_parent, args=(parent.sentinel,), daemon=True).start()


def _exit_with_parent(sentinel: int) -> None:
    multiprocessing.connection.wait([sentinel])
    os._exit(0)


def _ready() -> bool:
    return True


class IsolatedDecoder:
    """Decodes audio with :func:`aceserve.media.decode_audio`'s contract, in a helper process.

    The helper starts on the first call and is reused; after a crash or a timeout it is replaced on
    the next call. Calls are serialised (one helper, one file at a time); any thread may call.
    ``close()`` stops the helper.

    ``_target`` is a test seam, for tests only: the module-level function the child runs instead of
    decoding, so a test can make the real helper process crash or hang.
    """

    def __init__(self, *, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS, _target: DecodeTarget = _decode) -> None:
        if timeout_seconds <= 0:
            raise ValueError(f"timeout_seconds must be positive, got {timeout_seconds}")
        self.timeout_seconds = timeout_seconds
        self._target = _target
        self._lock = threading.Lock()
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._closed = False

    def decode(self, data: bytes, *, max_seconds: float, field: str) -> Audio:
        """Decode a whole file to float32 ``(2, n)`` at 48 kHz, as :func:`aceserve.media.decode_audio`.

        Raises:
            TaskInputError: the file is bad (the child's message, unchanged), the decoder crashed on
                it, or decoding took longer than ``timeout_seconds``.
            RuntimeError: the helper process could not be started (our problem, not the file's).
        """
        with self._lock:
            if self._closed:
                raise RuntimeError("the IsolatedDecoder is closed")
            future = self._submit(data, max_seconds, field)
            done, _ = concurrent.futures.wait([future], timeout=self.timeout_seconds)
            if not done:
                self._discard_pool()
                log.warning("decoding %s took over %g s; the decoder process was killed", field, self.timeout_seconds)
                raise TaskInputError(
                    f"`{field}` could not be decoded: decoding took too long (over {self.timeout_seconds:g} s)"
                )
            try:
                return _take(future.result())
            except BrokenProcessPool:
                self._discard_pool()
                log.warning("the audio decoder process died while decoding %s; starting a new one", field)
                raise TaskInputError(
                    f"`{field}` could not be decoded: the audio decoder crashed on this file"
                ) from None

    def close(self) -> None:
        """Stop the helper process. Further calls to :meth:`decode` raise ``RuntimeError``."""
        with self._lock:
            self._closed = True
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None

    def __enter__(self) -> IsolatedDecoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _submit(self, data: bytes, max_seconds: float, field: str) -> concurrent.futures.Future[Audio | _Shared]:
        pool = self._running_pool()
        try:
            return pool.submit(_run, self._target, data, max_seconds, field)
        except BrokenProcessPool:  # the helper died while idle (killed from outside): start a new one
            self._discard_pool()
            return self._running_pool().submit(_run, self._target, data, max_seconds, field)

    def _running_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        """The helper pool, started and answering, so a failure here is never blamed on a file."""
        if self._pool is not None:
            return self._pool
        pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_start_child
        )
        try:
            pool.submit(_ready).result(timeout=_START_TIMEOUT_SECONDS)
        except Exception as exc:
            _kill(pool)
            raise RuntimeError(f"the audio decoder process could not be started: {exc!r}") from exc
        self._pool = pool
        return pool

    def _discard_pool(self) -> None:
        if self._pool is not None:
            _kill(self._pool)
            self._pool = None


def _kill(pool: concurrent.futures.ProcessPoolExecutor) -> None:
    """Kill the pool's process (ProcessPoolExecutor has no public kill before Python 3.14) and shut it down."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        process.kill()
    for process in processes:
        process.join(timeout=5)
    pool.shutdown(wait=False, cancel_futures=True)

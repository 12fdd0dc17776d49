"""One helper process that runs a function for the worker, so that a native crash there (FFmpeg, PyAV,
LAME, libsndfile on hostile or broken data) fails one call instead of killing the worker.

:class:`HelperProcess` owns one long-lived child started with ``spawn``, never ``fork``: the worker
process has torch (and its thread pools) loaded, and a forked copy of a threaded process may deadlock.
The spawned child imports only what the called function needs (plus the parent's ``__main__`` script,
as ``spawn`` always does, whose entry point does not import torch). Calls are serialised; the child's
death during a call raises :class:`HelperCrashed`, a call over its time limit kills the child and
raises :class:`HelperTimedOut`; either way the next call starts a fresh child.

Audio is large (600 s is 230 MB of float32). Pickled through the pipe that took about 0.8 s, so arrays
of 16 MiB or more (about 44 s) cross in a shared-memory block instead (about 0.25 s for 600 s):
:func:`share` copies an array into a new block, :func:`take` copies it out and unlinks the block.
Where ``/dev/shm`` lacks the room (containers default to 64 MB) arrays go through the pipe.
"""

from __future__ import annotations

import concurrent.futures
import faulthandler
import multiprocessing
import multiprocessing.connection
import os
import threading
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import shared_memory
from typing import Any, Final, TypeVar

import numpy as np

from aceserve.media.formats import Audio

T = TypeVar("T")

START_TIMEOUT_SECONDS: Final = 60.0

# Arrays at least this large cross through shared memory (16 MiB is about 44 s of stereo float32);
# smaller ones through the pipe, where they cost a few milliseconds.
SHARED_MEMORY_MIN_BYTES: Final = 16 * 1024 * 1024
SHARED_MEMORY_DIR: Final = "/dev/shm"


class HelperCrashed(Exception):
    """The helper process died during the call (a native crash, killed from outside)."""


class HelperTimedOut(Exception):
    """The call ran past its time limit; the helper process was killed."""


@dataclass(frozen=True)
class Shared:
    """An array left in the shared-memory block ``name``, for the other side to read, copy or unlink."""

    name: str
    shape: tuple[int, ...]


def share(audio: Audio) -> Audio | Shared:
    """Put a large array in a new shared-memory block (its name crosses the pipe); a small array, or
    one that /dev/shm has no room for, crosses as itself."""
    if audio.nbytes < SHARED_MEMORY_MIN_BYTES or shared_memory_room() < 2 * audio.nbytes:
        return audio  # a full /dev/shm would kill the copying process with SIGBUS
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
    return Shared(block.name, audio.shape)


def take(item: Audio | Shared) -> Audio:
    """The array itself, copied out of its shared-memory block, which is then unlinked."""
    if not isinstance(item, Shared):
        return item
    block = shared_memory.SharedMemory(name=item.name)
    try:
        return _view(block, item.shape).copy()
    finally:
        block.close()
        block.unlink()


def read_shared(item: Audio | Shared, use: Callable[[Audio], T]) -> T:
    """Run ``use`` on the array, read in place from its block (left for its creator to unlink)."""
    if not isinstance(item, Shared):
        return use(item)
    block = shared_memory.SharedMemory(name=item.name)
    try:
        view = _view(block, item.shape)
        try:
            return use(view)
        finally:
            del view
    finally:
        block.close()


def unlink(item: Audio | Shared) -> None:
    """Free the block behind ``item`` (nothing for an array that crossed as itself)."""
    if isinstance(item, Shared):
        try:
            block = shared_memory.SharedMemory(name=item.name)
        except FileNotFoundError:
            return
        block.close()
        block.unlink()


def _view(block: shared_memory.SharedMemory, shape: tuple[int, ...]) -> Audio:
    """Float32 samples over the block; drop the view before closing the block."""
    return np.ndarray(shape, dtype=np.float32, buffer=block.buf)


def shared_memory_room() -> int:
    try:
        stats = os.statvfs(SHARED_MEMORY_DIR)
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


def _ready() -> int:
    return os.getpid()


class HelperProcess:
    """Runs module-level functions (pickled by name) in one child process, one call at a time.

    The child starts on the first call and is reused; after a crash or a timeout it is replaced on
    the next call. Any thread may call; ``close()`` stops the child. ``name`` says what the helper
    does, in errors ("the audio encoder process").
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._closed = False
        self.pid: int | None = None

    def call(self, timeout_seconds: float, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` in the child, its exceptions raised here unchanged.

        Raises:
            HelperCrashed: the child died during the call.
            HelperTimedOut: the call took longer than ``timeout_seconds`` (the child was killed).
            RuntimeError: the helper is closed or its process could not be started.
        """
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self.name} is closed")
            future = self._submit(function, args)
            done, _ = concurrent.futures.wait([future], timeout=timeout_seconds)
            if not done:
                self._discard_pool()
                raise HelperTimedOut(f"{self.name} took over {timeout_seconds:g} s and was stopped")
            try:
                return future.result()
            except BrokenProcessPool:
                self._discard_pool()
                raise HelperCrashed(f"{self.name} died") from None

    def start(self) -> None:
        """Start the child now rather than on the first call (a spawn takes a while)."""
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self.name} is closed")
            self._running_pool()

    def close(self) -> None:
        """Stop the child. Further calls raise ``RuntimeError``."""
        with self._lock:
            self._closed = True
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None

    def _submit(self, function: Callable[..., T], args: tuple[Any, ...]) -> concurrent.futures.Future[T]:
        pool = self._running_pool()
        try:
            return pool.submit(function, *args)
        except BrokenProcessPool:  # the child died while idle (killed from outside): start a new one
            self._discard_pool()
            return self._running_pool().submit(function, *args)

    def _running_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        """The child, started and answering, so a failure here is never blamed on the call's data."""
        if self._pool is not None:
            return self._pool
        pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_start_child
        )
        try:
            self.pid = pool.submit(_ready).result(timeout=START_TIMEOUT_SECONDS)
        except Exception as exc:
            _kill(pool)
            raise RuntimeError(f"{self.name} could not be started: {exc!r}") from exc
        self._pool = pool
        return pool

    def _discard_pool(self) -> None:
        if self._pool is not None:
            _kill(self._pool)
            self._pool = None
            self.pid = None


def _kill(pool: concurrent.futures.ProcessPoolExecutor) -> None:
    """Kill the pool's process (ProcessPoolExecutor has no public kill before Python 3.14) and shut it down."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        process.kill()
    for process in processes:
        process.join(timeout=5)
    pool.shutdown(wait=False, cancel_futures=True)

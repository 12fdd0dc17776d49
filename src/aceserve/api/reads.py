"""Where the hot paths' database work runs: reads (``GET /api/v1/task/{id}``, the key check before a
create) and the create's transaction.

Reads:

- SQLite: on the event loop itself. A prepared read of an indexed row takes tens of microseconds, less
  than handing it to a thread and back (a request through anyio's thread pool costs about twice the CPU of
  one served inline), and in WAL mode a reader never waits for the writer.
- PostgreSQL: on a few threads of its own. A read is a network round trip, which must not hold the loop;
  a plain executor hands work over more cheaply than anyio's thread pool.

Reads never write (the database's writer lock may be held for as long as a transaction takes).

Creates (``Creates``): on SQLite on one thread of their own when a create is its transaction alone.
SQLite has one writer at a time, so more threads only queue on its lock, and every hand-over between
them (and the GIL) costs: under 16 parallel creates one thread serves about a fifth more per second,
with under half the p99. Creates with audio to probe or store, and all creates on PostgreSQL (where
different accounts' creates run in parallel), use anyio's thread pool as before.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

T = TypeVar("T")


class HotReads:
    def __init__(self, *, inline: bool, threads: int) -> None:
        self.inline = inline
        self._executor = None if inline else ThreadPoolExecutor(threads, thread_name_prefix="hot-read")

    async def run(self, read: Callable[..., T], *args: object) -> T:
        if self._executor is None:
            return read(*args)
        return await asyncio.get_running_loop().run_in_executor(self._executor, read, *args)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)


class Creates:
    def __init__(self, *, one_writer: bool) -> None:
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="create") if one_writer else None

    async def run(self, create: Callable[..., T], *args: Any, quick: bool, **kwargs: Any) -> T:
        """``quick``: the create is its transaction alone (no audio to probe, fetch or store, which may take
        seconds and must not hold up the others): the one writer thread; else anyio's thread pool."""
        if self._executor is None or not quick:
            return await run_in_threadpool(create, *args, **kwargs)
        call = functools.partial(create, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

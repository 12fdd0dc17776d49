"""Where the hot paths' database work runs: reads (``GET /api/v1/task/{id}``, the key check before a
create) and the create's transaction.

Reads:

- SQLite: on the event loop itself. A prepared read of an indexed row takes tens of microseconds, less
  than handing it to a thread and back (a request through anyio's thread pool costs about twice the CPU of
  one served inline), and in WAL mode a reader never waits for the writer.
- PostgreSQL: on a few threads of its own. A read is a network round trip, which must not hold the loop;
  a plain executor hands work over more cheaply than anyio's thread pool.

Reads never write (the database's writer lock may be held for as long as a transaction takes).

Creates (``Creates``): on SQLite, a create that is its transaction alone (no audio, no webhook) runs on the
event loop too, about 150 microseconds of statements, but only when the write lock is free at once
(``Database.raw_write(wait=False)``); while another writer holds it the create waits with ``asyncio.sleep``,
never blocking the loop, and after ``CREATE_PATIENCE`` seconds goes to a thread that waits in SQLite's
busy handler. Under the GIL a hand-over to a thread and back costs more than the create itself (about
0.2 ms of CPU per create, through a writer thread of its own: creates 1,450/s there, 2,100/s inline).
Other creates, and all creates on PostgreSQL (a network round trip per statement, and different
accounts' creates run in parallel), use anyio's thread pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from aceserve.store.db import WriterBusy

T = TypeVar("T")


class HotReads:
    def __init__(self, *, inline: bool, threads: int) -> None:
        self._executor = None if inline else ThreadPoolExecutor(threads, thread_name_prefix="hot-read")

    async def run(self, read: Callable[..., T], *args: object) -> T:
        if self._executor is None:
            return read(*args)
        return await asyncio.get_running_loop().run_in_executor(self._executor, read, *args)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)


CREATE_PATIENCE = 1.0
"""Seconds a create on the event loop waits for SQLite's write lock before a thread waits for it instead."""


class Creates:
    def __init__(self, *, inline: bool, patience: float = CREATE_PATIENCE) -> None:
        self.inline = inline
        self.patience = patience

    async def run(self, create: Callable[..., T], *args: Any, quick: bool, **kwargs: Any) -> T:
        """``quick``: ``CreateTaskCommand.quick``, the create is one short transaction (no audio to probe, fetch
        or store, which may take seconds; no webhook event). Inline (SQLite), a quick create runs on the event
        loop with ``wait=False``, again after a growing pause each time ``create`` raises ``WriterBusy``; past
        ``patience``, and for any other create, on anyio's thread pool."""
        if self.inline and quick:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.patience
            pause = 0.0005
            while True:
                try:
                    return create(*args, wait=False, **kwargs)
                except WriterBusy:
                    if loop.time() + pause > deadline:
                        break
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, 0.02)
        return await run_in_threadpool(create, *args, **kwargs)

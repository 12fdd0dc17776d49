"""Where the hot path's reads run (``GET /api/v1/task/{id}``, the key check before a create).

- SQLite: on the event loop itself. A prepared read of an indexed row takes tens of microseconds, less
  than handing it to a thread and back (a request through anyio's thread pool costs about twice the CPU of
  one served inline), and in WAL mode a reader never waits for the writer.
- PostgreSQL: on a few threads of its own. A read is a network round trip, which must not hold the loop;
  a plain executor hands work over more cheaply than anyio's thread pool.

Writes never run here (the database's writer lock may be held for as long as a transaction takes).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

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

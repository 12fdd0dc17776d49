"""HTTP connections that cannot exhaust the server: a cap on open connections and read deadlines.

uvicorn's h11 protocol, with three additions (``GuardedH11Protocol``):

- **a cap**: at ``max_connections`` open connections, a new one makes room by closing the connection
  that has waited longest for a request head (an idle or slow client); when every connection has a
  request in flight, the new one is answered 503 in the envelope and closed. Idle clients can never
  use up the process's file descriptors (which would stop ``accept`` for everyone, ``/health``
  included), nor keep a new client out;
- **a header deadline**: a request's head must arrive within ``header_timeout`` seconds of the
  connection opening (or of the previous answer), however slowly it trickles in;
- **a body deadline**: while a request body is being read, ``body_timeout`` seconds without a byte
  close the connection.

Keep-alive idling between requests is uvicorn's ``timeout_keep_alive``. ``serving.server_config``
builds the protocol from the settings.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from typing import Any, ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from aceserve.api.envelope import error_body
from aceserve.domain.text import json_bytes

log = logging.getLogger("aceserve.api")
FD_RESERVE = 128
"""File descriptors kept for everything but client connections (database, files, workers, logs)."""

_FULL_BODY = json_bytes(error_body(503, "The server has too many open connections; try again shortly."))
_FULL = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n"
    b"connection: close\r\ncontent-length: " + str(len(_FULL_BODY)).encode() + b"\r\n\r\n" + _FULL_BODY
)


def default_max_connections() -> int:
    """What the open-file limit allows: the soft ``RLIMIT_NOFILE`` less a reserve, at least 16."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 10_000
    return max(16, soft - FD_RESERVE)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a connection cap and read deadlines (see the module docstring).
    ``guarded`` makes a subclass with the limits set."""

    max_connections: ClassVar[int] = 1000
    header_timeout: ClassVar[float] = 10.0
    body_timeout: ClassVar[float] = 30.0
    counts: ClassVar[dict[str, int]] = {}
    """``evicted`` and ``refused`` connections at the cap, for one server (its subclass)."""

    @classmethod
    def guarded(cls, *, max_connections: int, header_timeout: float, body_timeout: float) -> type[GuardedH11Protocol]:
        limits: dict[str, Any] = {
            "max_connections": max_connections,
            "header_timeout": header_timeout,
            "body_timeout": body_timeout,
            "counts": {"evicted": 0, "refused": 0},
        }
        return type("GuardedH11Protocol", (cls,), limits)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._waiting_since = 0.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._waiting_since = self.loop.time()
        if len(self.connections) > self.max_connections and not self._evict_one():
            self.counts["refused"] = self.counts.get("refused", 0) + 1
            transport.write(_FULL)
            transport.close()
            return
        self._arm(self.header_timeout)

    def _evict_one(self) -> bool:
        """Close the connection that has waited longest for a request head; False if none waits."""
        waiting = [
            other
            for other in self.connections
            if isinstance(other, GuardedH11Protocol) and other is not self and other._waiting_for_head()
        ]
        if not waiting:
            return False
        oldest = min(waiting, key=lambda other: other._waiting_since)
        oldest.transport.close()
        oldest.connections.discard(oldest)  # counted out now; connection_lost follows
        self.counts["evicted"] = self.counts.get("evicted", 0) + 1
        return True

    def _waiting_for_head(self) -> bool:
        if self.transport is None or self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return False
        return self.cycle is None or self.cycle.response_complete

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            self._arm(self.body_timeout)  # restarted by every chunk
        elif state is not h11.IDLE:  # the whole request is in: the app is working on it
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._waiting_since = self.loop.time()
            self._arm(self.header_timeout)  # the next request's head (keep-alive idling is uvicorn's)

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing() or self.conn.their_state not in (h11.IDLE, h11.SEND_BODY):
            return
        if self.cycle is not None and not self.cycle.response_complete and self.conn.their_state is h11.IDLE:
            return  # pipelined: the previous answer is still being written
        self.transport.close()

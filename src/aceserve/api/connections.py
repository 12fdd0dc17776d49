"""HTTP connections that cannot exhaust the server: a cap on open connections and read deadlines.

uvicorn's httptools protocol (its fast HTTP/1.1 parser), with three additions (``GuardedHttpToolsProtocol``):

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

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

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


class _Guard:
    """The cap and the deadlines; the protocol class says when its connection waits for a request head
    (``_waiting_for_head``) and what a deadline may close (``_closable``)."""

    max_connections: ClassVar[int] = 1000
    header_timeout: ClassVar[float] = 10.0
    body_timeout: ClassVar[float] = 30.0
    counts: ClassVar[dict[str, int]] = {}
    """``evicted`` and ``refused`` connections at the cap, for one server (its subclass)."""

    connections: set[Any]
    transport: Any
    loop: asyncio.AbstractEventLoop
    cycle: Any

    @classmethod
    def guarded(cls, *, max_connections: int, header_timeout: float, body_timeout: float) -> type[Any]:
        limits: dict[str, Any] = {
            "max_connections": max_connections,
            "header_timeout": header_timeout,
            "body_timeout": body_timeout,
            "counts": {"evicted": 0, "refused": 0},
        }
        return type(cls.__name__, (cls,), limits)

    def _guard_init(self) -> None:
        self._deadline: asyncio.TimerHandle | None = None
        self._waiting_since = 0.0

    def _guard_connected(self, transport: asyncio.Transport) -> None:
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
            if isinstance(other, _Guard) and other is not self and other._waiting_for_head()
        ]
        if not waiting:
            return False
        oldest = min(waiting, key=lambda other: other._waiting_since)
        oldest.transport.close()
        oldest.connections.discard(oldest)  # counted out now; connection_lost follows
        self.counts["evicted"] = self.counts.get("evicted", 0) + 1
        return True

    def _waiting_for_head(self) -> bool:
        raise NotImplementedError

    def _closable(self) -> bool:
        """True while the client owes bytes (a request head, or a body it is sending)."""
        raise NotImplementedError

    def _response_done(self) -> None:
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
        if not self.transport.is_closing() and self._closable():
            self.transport.close()


_IDLE, _BODY, _DONE = "idle", "body", "done"


class GuardedHttpToolsProtocol(_Guard, HttpToolsProtocol):
    """uvicorn's httptools protocol with a connection cap and read deadlines (see the module docstring):
    the parser's callbacks tell where the request stands."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._guard_init()
        self._phase = _IDLE

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._guard_connected(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _waiting_for_head(self) -> bool:
        if self.transport is None or self.transport.is_closing() or self._phase is not _IDLE:
            return False
        return self.cycle is None or self.cycle.response_complete

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._phase = _IDLE  # a head arriving: still the header deadline

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._phase = _BODY
        self._arm(self.body_timeout)

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        self._arm(self.body_timeout)  # restarted by every chunk

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._phase = _DONE  # the whole request is in: the app is working on it
        self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.cycle is None or self.cycle.response_complete:
            self._phase = _IDLE
        self._response_done()

    def _closable(self) -> bool:
        if self._phase is _DONE:
            return False
        # pipelined: the previous answer is still being written
        return not (self.cycle is not None and not self.cycle.response_complete and self._phase is _IDLE)


def guarded_protocol(*, max_connections: int, header_timeout: float, body_timeout: float) -> type[Any]:
    """The guarded protocol class with these limits (httptools' parser: several times faster than h11's)."""
    return GuardedHttpToolsProtocol.guarded(
        max_connections=max_connections, header_timeout=header_timeout, body_timeout=body_timeout
    )

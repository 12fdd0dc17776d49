"""An httpcore network backend that connects only to addresses checked beforehand, on a deadline.

Why a network backend rather than rewriting the URL to an IP: httpcore keeps the URL's host for
the ``Host`` header, for TLS SNI and for certificate verification, and asks the backend for a
socket. Answering that request with a socket to the address we already validated is the one point
where pinning cannot be bypassed: there is no second DNS lookup for a rebinding attacker to win,
whatever the URL says.

The backend also enforces the fetch's total deadline on every socket operation. httpcore's own
timeouts apply per read, so a server dripping one byte every few seconds would otherwise hold a
worker for as long as it liked.
"""

from __future__ import annotations

import ssl
import time
import typing
from collections.abc import Iterable, Sequence

import httpcore

from aceserve.fetch.addresses import IPAddress

SocketOption = tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]


class Deadline:
    """A point in monotonic time after which every socket operation fails as a timeout."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._at = time.monotonic() + seconds

    def remaining(self) -> float:
        return self._at - time.monotonic()

    def clamp(self, timeout: float | None, error: type[httpcore.TimeoutException]) -> float:
        """The timeout for the next operation: the caller's, cut to what is left of the deadline."""
        left = self.remaining()
        if left <= 0:
            raise error(f"the {self.seconds:g} s deadline has passed")
        return left if timeout is None else min(timeout, left)


class PinnedBackend(httpcore.NetworkBackend):
    """Connects requests for ``host`` to ``addresses`` only, trying them in order."""

    def __init__(self, host: str, addresses: Sequence[IPAddress], deadline: Deadline) -> None:
        self._host = host
        self._addresses = list(addresses)
        self._deadline = deadline
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        if host != self._host:  # httpcore only connects to the request's origin; anything else is a bug
            raise httpcore.ConnectError(f"refusing to connect to {host!r}, which was not checked")
        options = list(socket_options or ())
        last_error: httpcore.ConnectError | None = None
        for address in self._addresses:
            try:
                stream = self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=self._deadline.clamp(timeout, httpcore.ConnectTimeout),
                    local_address=local_address,
                    socket_options=options,
                )
            except httpcore.ConnectError as exc:  # this address refused; the next may answer
                last_error = exc
                continue
            return _DeadlineStream(stream, self._deadline)
        assert last_error is not None, "the fetcher never pins an empty address list"
        raise last_error

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are never used for user-supplied URLs")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class _DeadlineStream(httpcore.NetworkStream):
    """Wraps a socket stream so no read or write outlives the deadline."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: Deadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._deadline.clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._deadline.clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(
            ssl_context, server_hostname, self._deadline.clamp(timeout, httpcore.ConnectTimeout)
        )
        return _DeadlineStream(inner, self._deadline)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)

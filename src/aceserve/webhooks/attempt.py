"""POST one signed request and classify what happened (contract §5).

2xx: delivered. 410 Gone: the receiver asks us to stop. Anything else (other statuses, 3xx because
redirects are never followed, timeouts, connection errors, a host name that does not resolve):
retry later. An endpoint that can never succeed (not http/https, malformed, or resolving to an
address the policy refuses) stops at once.

The host is resolved once and checked (:mod:`aceserve.webhooks.endpoints`); the socket then goes
to those addresses only, through the fetcher's pinned network backend, while ``Host``, SNI and the
certificate check still use the endpoint's name. Environment proxies are never used: they would
connect somewhere other than the checked address.

Redirects are refused because following them would let an endpoint bounce our signed POST to a
host the client never configured.
"""

from __future__ import annotations

import base64
import ssl
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import httpcore

from aceserve.fetch.pinning import Deadline, PinnedBackend
from aceserve.webhooks.endpoints import Endpoint, EndpointPolicy, EndpointRefused, EndpointUnresolved, parse_endpoint
from aceserve.webhooks.signing import SignedRequest

# Enough of a failing receiver's answer to explain itself in the outbox row and the log.
_SNIPPET_BYTES: Final = 512
# Read at most this much of any answer; the rest is dropped with the connection.
_MAX_READ_BYTES: Final = 64 * 1024
# Connecting, sending and waiting for the answer may each take up to the timeout; the whole attempt
# never takes longer than that many timeouts, so it always ends inside the sender's lease.
_PHASES: Final = 3
_TRANSFER_ERRORS: Final = (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol)


class Outcome(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    STOP = "stop"


@dataclass(frozen=True)
class AttemptResult:
    outcome: Outcome
    status_code: int | None
    error: str  # empty when delivered
    elapsed_seconds: float


def classify_status(status_code: int) -> Outcome:
    if 200 <= status_code < 300:
        return Outcome.DELIVERED
    if status_code == 410:
        return Outcome.STOP
    return Outcome.RETRY


def post_once(
    request: SignedRequest,
    policy: EndpointPolicy,
    *,
    timeout_seconds: float,
    ssl_context: ssl.SSLContext,
) -> AttemptResult:
    """One attempt. Never raises for network trouble; that is a result like any other.

    ``timeout_seconds`` bounds resolving plus connecting, each write and each read; the whole
    attempt is cut off after ``3 * timeout_seconds``, and reading the answer's body once
    ``timeout_seconds`` have passed in total, so a receiver that trickles an endless answer cannot
    hold a sender thread.
    """
    started = time.monotonic()

    def result(outcome: Outcome, error: str, status_code: int | None = None) -> AttemptResult:
        return AttemptResult(outcome, status_code, error, time.monotonic() - started)

    deadline = Deadline(_PHASES * timeout_seconds)
    try:
        endpoint = parse_endpoint(request.url)
        addresses = policy.resolve(endpoint)
    except EndpointRefused as exc:
        return result(Outcome.STOP, str(exc))
    except EndpointUnresolved as exc:
        return result(Outcome.RETRY, str(exc))
    timeouts = {"connect": timeout_seconds, "read": timeout_seconds, "write": timeout_seconds, "pool": timeout_seconds}
    url = endpoint.url
    target = httpcore.URL(scheme=url.raw_scheme, host=endpoint.host.encode("ascii"), port=url.port, target=url.raw_path)
    try:
        with (
            httpcore.ConnectionPool(
                ssl_context=ssl_context,
                network_backend=PinnedBackend(endpoint.host, addresses, deadline),
                max_connections=1,
                retries=0,
            ) as pool,
            pool.stream(
                "POST",
                target,
                headers=_headers(endpoint, request),
                content=request.body,
                extensions={"timeout": timeouts},
            ) as response,
        ):
            head = _read_some(response, deadline=started + timeout_seconds)
    except httpcore.TimeoutException as exc:
        return result(Outcome.RETRY, f"timed out after {timeout_seconds:g} s ({type(exc).__name__})")
    except _TRANSFER_ERRORS as exc:
        return result(Outcome.RETRY, f"{type(exc).__name__}: {exc}")
    outcome = classify_status(response.status)
    if outcome is Outcome.DELIVERED:
        return result(outcome, "", response.status)
    error = f"HTTP {response.status}"
    if 300 <= response.status < 400:
        error += f" redirect to {_header(response, b'location') or '?'!r} not followed"
    text = head[:_SNIPPET_BYTES].decode("utf-8", "replace").strip()
    if text:
        error += f": {text}"
    return result(outcome, error, response.status)


def _headers(endpoint: Endpoint, request: SignedRequest) -> list[tuple[bytes, bytes]]:
    """``Host`` first (the endpoint's name, not the pinned address), then the signed request's own
    headers; credentials in the URL become Basic auth, as an HTTP client would send them."""
    url = endpoint.url
    host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
    headers = [(b"Host", (host if url.port is None else f"{host}:{url.port}").encode("ascii"))]
    headers += [(name.encode("ascii"), value.encode("ascii")) for name, value in request.headers.items()]
    headers += [(b"Content-Length", str(len(request.body)).encode("ascii")), (b"Accept-Encoding", b"identity")]
    if url.userinfo:
        credentials = f"{url.username}:{url.password}".encode()
        headers.append((b"Authorization", b"Basic " + base64.b64encode(credentials)))
    return headers


def _header(response: httpcore.Response, name: bytes) -> str | None:
    for key, value in response.headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _read_some(response: httpcore.Response, *, deadline: float) -> bytes:
    """Up to ``_MAX_READ_BYTES`` of the body, stopping early at ``deadline``.

    The status line has already arrived, and it alone decides the outcome, so trouble while reading
    the body is ignored (a receiver that said 200 and then hung up has still accepted the event).
    """
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_stream():
            chunks.append(chunk)
            size += len(chunk)
            if size >= _MAX_READ_BYTES or time.monotonic() >= deadline:
                break
    except (httpcore.TimeoutException, *_TRANSFER_ERRORS):
        pass
    return b"".join(chunks)

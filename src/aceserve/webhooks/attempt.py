"""POST one signed request and classify what happened (contract §5).

2xx: delivered. 410 Gone: the receiver asks us to stop. Anything else (other statuses, 3xx because
redirects are never followed, timeouts, connection errors): retry later. A URL httpx cannot even
send to (not http/https, malformed) can never succeed, so it stops at once.

Redirects are refused because following them would let an endpoint bounce our signed POST to a
host the client never configured.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

import httpx

from aceserve.webhooks.signing import SignedRequest

# Enough of a failing receiver's answer to explain itself in the outbox row and the log.
_SNIPPET_BYTES = 512
# Read at most this much of any answer; the rest is dropped with the connection.
_MAX_READ_BYTES = 64 * 1024


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


def post_once(client: httpx.Client, request: SignedRequest, *, timeout_seconds: float) -> AttemptResult:
    """One attempt. Never raises for network trouble; that is a result like any other.

    ``timeout_seconds`` bounds connecting, each write and each read (httpx's model); reading the
    answer is also cut off once that much time has passed in total, so a receiver that trickles an
    endless body cannot hold a sender thread.
    """
    started = time.monotonic()
    try:
        with client.stream(
            "POST",
            request.url,
            content=request.body,
            headers=request.headers,
            timeout=httpx.Timeout(timeout_seconds),
            follow_redirects=False,
        ) as response:
            head = _read_some(response, deadline=started + timeout_seconds)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        return AttemptResult(Outcome.STOP, None, f"invalid endpoint URL: {exc}", time.monotonic() - started)
    except httpx.TimeoutException as exc:
        return AttemptResult(
            Outcome.RETRY,
            None,
            f"timed out after {timeout_seconds:g} s ({type(exc).__name__})",
            time.monotonic() - started,
        )
    except httpx.HTTPError as exc:
        return AttemptResult(Outcome.RETRY, None, f"{type(exc).__name__}: {exc}", time.monotonic() - started)
    elapsed = time.monotonic() - started
    outcome = classify_status(response.status_code)
    if outcome is Outcome.DELIVERED:
        return AttemptResult(outcome, response.status_code, "", elapsed)
    error = f"HTTP {response.status_code}"
    if 300 <= response.status_code < 400:
        error += f" redirect to {response.headers.get('location', '?')!r} not followed"
    text = head[:_SNIPPET_BYTES].decode("utf-8", "replace").strip()
    if text:
        error += f": {text}"
    return AttemptResult(outcome, response.status_code, error, elapsed)


def _read_some(response: httpx.Response, *, deadline: float) -> bytes:
    """Up to ``_MAX_READ_BYTES`` of the body, stopping early at ``deadline``.

    Reading a small answer to the end lets the connection be reused; a huge or slow one is cut off.
    The status line has already arrived, and it alone decides the outcome, so trouble while reading
    the body is ignored (a receiver that said 200 and then hung up has still accepted the event).
    """
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size >= _MAX_READ_BYTES or time.monotonic() >= deadline:
                break
    except httpx.HTTPError:
        pass
    return b"".join(chunks)

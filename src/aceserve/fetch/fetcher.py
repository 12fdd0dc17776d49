"""Download user-supplied input URLs without letting them reach inside our network (SSRF).

A task's ``audio`` may be any URL, and the worker that fetches it sits next to databases, cloud
metadata endpoints (169.254.169.254) and admin ports. So, for every hop of the request:

1. the URL must be http(s) with a host;
2. the host is resolved exactly once, and every address it resolves to must pass the policy
   (public addresses only, unless ``allow_private``);
3. the socket goes to one of those addresses and nowhere else (:mod:`aceserve.fetch.pinning`),
   while ``Host``, SNI and certificate checks still use the URL's host name, so a DNS answer
   that changes between check and connect (rebinding) gains nothing;
4. redirects are followed by hand, each new URL going through the same checks.

Size and time are capped too: a declared ``Content-Length`` over the limit is refused before the
body is read, the body is counted as it streams (declared lengths lie), and one deadline covers
the whole fetch, redirects included.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import httpcore
import httpx

from aceserve import __version__
from aceserve.domain.errors import TaskInputError
from aceserve.fetch.addresses import (
    AddressPolicy,
    IPAddress,
    Resolver,
    display_address,
    is_public_address,
    is_unicast_address,
    parse_address,
    resolve_with_getaddrinfo,
)
from aceserve.fetch.pinning import Deadline, PinnedBackend

_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_MAX_URL_IN_MESSAGE: Final = 200
_HOST_NAME: Final = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?")  # after IDNA encoding
_ERRNO_PREFIX: Final = re.compile(r"^\[Errno -?\d+\]\s*")


class FetchError(TaskInputError):
    """An input URL could not be fetched; the message names the field, the URL and the reason."""

    def __init__(self, message: str, *, field: str, url: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.url = url


@dataclass(frozen=True)
class _Hop:
    """One URL to request, and how to name it in messages."""

    url: httpx.URL
    host: str  # ASCII (IDNA) host, no brackets: what the resolver and the pinned backend see
    port: int
    subject: str  # "`audio` URL http://a (redirected to http://b)"


@dataclass(frozen=True)
class _Call:
    """One ``fetch`` call: what its errors report, and the deadline its hops share."""

    field: str
    url: str
    deadline: Deadline

    def error(self, subject: str, problem: str) -> FetchError:
        return FetchError(f"{subject} {problem}", field=self.field, url=self.url)


class SafeFetcher:
    """Fetches http(s) URLs to bytes, for public addresses only, within size and time limits.

    ``resolver`` and ``is_allowed_address`` exist for tests (and unusual deployments): a test can
    map a made-up host name to a loopback server and let that one address count as public while
    every other address is still judged by the real policy. ``is_allowed_address`` replaces the
    policy that ``allow_private`` would choose. Safe to share between threads.
    """

    def __init__(
        self,
        *,
        max_bytes: int,
        timeout_seconds: float,
        allow_private: bool = False,
        resolver: Resolver | None = None,
        max_redirects: int = 3,
        is_allowed_address: AddressPolicy | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if max_bytes <= 0 or timeout_seconds <= 0 or max_redirects < 0:
            raise ValueError("max_bytes and timeout_seconds must be positive, max_redirects not negative")
        self.max_bytes = max_bytes
        self.timeout_seconds = timeout_seconds
        self.max_redirects = max_redirects
        self._resolver = resolver or resolve_with_getaddrinfo
        default_policy = is_unicast_address if allow_private else is_public_address
        self._is_allowed = is_allowed_address or default_policy
        # Built once: loading the CA bundle costs milliseconds. httpx's context uses certifi.
        self._ssl_context = ssl_context or httpx.create_ssl_context()
        self._headers = [
            (b"User-Agent", f"aceserve/{__version__} (input fetcher)".encode()),
            (b"Accept", b"*/*"),
            (b"Accept-Encoding", b"identity"),  # the size cap then counts the bytes that arrive
        ]

    def fetch(self, url: str, *, field: str = "audio") -> bytes:
        """Download ``url`` and return its body; ``field`` names the input in error messages.

        Raises:
            FetchError: the URL is malformed, points at a refused address, cannot be reached,
                answers other than 2xx, is too large or too slow.
        """
        call = _Call(field=field, url=url, deadline=Deadline(self.timeout_seconds))
        subject = f"`{field}` URL {_shorten(url)}"
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError) as exc:
            raise call.error(subject, f"is not a valid URL ({exc})") from exc
        hop = self._hop(parsed, subject, call)
        for _ in range(self.max_redirects + 1):
            addresses = self._resolve(hop, call)
            body, location = self._request(hop, addresses, call)
            if location is None:
                return body
            try:
                parsed = hop.url.join(location)
            except (httpx.InvalidURL, TypeError) as exc:
                raise call.error(hop.subject, f"redirected to an invalid URL ({_shorten(location)})") from exc
            hop = self._hop(parsed, f"{subject} (redirected to {_shorten(str(parsed))})", call)
        raise call.error(subject, f"was redirected more than {self.max_redirects} times")

    # -- checks, before any connection ----------------------------------------------------------

    def _hop(self, url: httpx.URL, subject: str, call: _Call) -> _Hop:
        if url.scheme not in ("http", "https"):
            raise call.error(subject, "must use http or https")
        host = url.raw_host.decode("ascii")
        if not host:
            raise call.error(subject, "has no host")
        if parse_address(host) is None and not _HOST_NAME.fullmatch(host):
            raise call.error(subject, "is not a valid URL (bad host name)")
        port = url.port if url.port is not None else (443 if url.scheme == "https" else 80)
        if not 0 < port < 65536:
            raise call.error(subject, f"has an invalid port ({port})")
        return _Hop(url=url, host=host, port=port, subject=subject)

    def _resolve(self, hop: _Hop, call: _Call) -> list[IPAddress]:
        """Resolve the hop's host once and refuse it unless every address passes the policy."""
        literal = parse_address(hop.host)
        if literal is not None:
            addresses = [literal]
        else:
            try:
                answers: Sequence[str] = self._resolver(hop.host, hop.port)
            except (OSError, UnicodeError) as exc:
                problem = f"could not be reached (its host name does not resolve: {_reason(exc)})"
                raise call.error(hop.subject, problem) from exc
            parsed = [parse_address(answer) for answer in answers]
            addresses = [address for address in parsed if address is not None]
            if not addresses or len(addresses) != len(parsed):
                raise call.error(hop.subject, "could not be reached (its host name does not resolve to IP addresses)")
        for address in addresses:
            if not self._is_allowed(address):
                problem = (
                    f"resolves to a private address ({display_address(address)}); only public addresses are allowed"
                )
                raise call.error(hop.subject, problem)
        if call.deadline.remaining() <= 0:  # a slow resolver used the time up
            raise call.error(hop.subject, f"timed out after {self.timeout_seconds:g} s")
        return addresses

    # -- transfer -------------------------------------------------------------------------------

    def _request(self, hop: _Hop, addresses: list[IPAddress], call: _Call) -> tuple[bytes, str | None]:
        """GET one hop: its body, or (b"", Location) for a redirect."""
        backend = PinnedBackend(hop.host, addresses, call.deadline)
        target = httpcore.URL(
            scheme=hop.url.raw_scheme, host=hop.url.raw_host, port=hop.url.port, target=hop.url.raw_path
        )
        timeout = self.timeout_seconds
        extensions = {"timeout": {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}}
        headers = [(b"Host", _host_header(hop)), *self._headers]
        try:
            with (
                httpcore.ConnectionPool(
                    ssl_context=self._ssl_context, network_backend=backend, max_connections=1, retries=0
                ) as pool,
                pool.stream("GET", target, headers=headers, extensions=extensions) as response,
            ):
                return self._read(hop, response, call)
        except httpcore.TimeoutException as exc:
            raise call.error(hop.subject, f"timed out after {self.timeout_seconds:g} s") from exc
        except httpcore.ConnectError as exc:
            raise call.error(hop.subject, f"could not be reached ({_reason(exc)})") from exc
        except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as exc:
            raise call.error(hop.subject, f"could not be downloaded ({_reason(exc)})") from exc

    def _read(self, hop: _Hop, response: httpcore.Response, call: _Call) -> tuple[bytes, str | None]:
        status = response.status
        if status in _REDIRECTS:
            location = _header(response, b"location")
            if not location:
                raise call.error(hop.subject, f"answered HTTP {status} without a Location")
            return b"", location
        if not 200 <= status < 300:
            raise call.error(hop.subject, f"answered HTTP {status}")
        too_large = f"is larger than the {_size(self.max_bytes)} limit"
        declared = _header(response, b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > self.max_bytes:
            raise call.error(hop.subject, f"{too_large} (it declares {_size(int(declared))})")
        body = bytearray()
        for chunk in response.iter_stream():  # declared lengths lie; count what arrives
            body += chunk
            if len(body) > self.max_bytes:
                raise call.error(hop.subject, too_large)
        return bytes(body), None


def _header(response: httpcore.Response, name: bytes) -> str | None:
    for key, value in response.headers:
        if key.lower() == name:
            try:
                return value.decode("utf-8")
            except UnicodeDecodeError:
                return value.decode("latin-1")
    return None


def _host_header(hop: _Hop) -> bytes:
    host = f"[{hop.host}]" if ":" in hop.host else hop.host
    return (host if hop.url.port is None else f"{host}:{hop.url.port}").encode("ascii")


def _shorten(url: str) -> str:
    return url if len(url) <= _MAX_URL_IN_MESSAGE else url[: _MAX_URL_IN_MESSAGE - 1] + "…"


def _reason(exc: BaseException) -> str:
    text = _ERRNO_PREFIX.sub("", str(exc)).strip()
    return text or type(exc).__name__


def _size(n: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} bytes"

"""Successful fetches, redirects, status codes, size and time limits, TLS: all over real loopback HTTP."""

from __future__ import annotations

import ssl
import time

import pytest

from aceserve.fetch import FetchError, SafeFetcher
from tests.fetch.fetch_servers import FetchServer, RecordingResolver, loopback_server_is_public
from tests.loopback import TlsSetup


def private_fetcher(**overrides: object) -> SafeFetcher:
    options: dict[str, object] = {"max_bytes": 1000, "timeout_seconds": 5.0, "allow_private": True}
    options.update(overrides)
    return SafeFetcher(**options)  # type: ignore[arg-type]


def test_allow_private_fetches_from_loopback(server: FetchServer) -> None:
    assert private_fetcher().fetch(server.url("/ok?n=1000")) == b"x" * 1000
    seen = server.seen[0]
    assert seen.headers["host"] == f"127.0.0.1:{server.port}"
    assert seen.headers["accept-encoding"] == "identity"
    assert seen.headers["user-agent"].startswith("aceserve/")


def test_localhost_falls_back_across_its_addresses(server: FetchServer, connections: list[tuple[str, int]]) -> None:
    # localhost may resolve to ::1 first; the server listens on 127.0.0.1 only.
    assert private_fetcher().fetch(server.url("/ok", host="localhost")) == b"x" * 11
    assert connections[-1] == ("127.0.0.1", server.port)


def test_redirects_are_followed_and_each_hop_resolved(server: FetchServer) -> None:
    resolver = RecordingResolver({"public.test": ["127.0.0.1"]})
    fetcher = SafeFetcher(
        max_bytes=1000, timeout_seconds=5, resolver=resolver, is_allowed_address=loopback_server_is_public
    )
    for status in (301, 302, 303, 307, 308):
        resolver.calls.clear()
        body = fetcher.fetch(server.url(f"/redirect?status={status}&to=/ok%3Fn%3D5", host="public.test"))
        assert body == b"xxxxx"
        assert resolver.calls == [("public.test", server.port)] * 2


def test_too_many_redirects(server: FetchServer) -> None:
    with pytest.raises(FetchError, match=r"^`audio` URL http://\S+/loop was redirected more than 3 times$"):
        private_fetcher().fetch(server.url("/loop"))
    assert len(server.seen) == 4


def test_redirect_without_location(server: FetchServer) -> None:
    with pytest.raises(FetchError, match=r"answered HTTP 302 without a Location$"):
        private_fetcher().fetch(server.url("/redirect-without-location"))


@pytest.mark.parametrize(("path", "status"), [("/missing.mp3", 404), ("/error", 500)])
def test_error_statuses_are_reported(server: FetchServer, path: str, status: int) -> None:
    url = server.url(path)
    with pytest.raises(FetchError) as raised:
        private_fetcher().fetch(url)
    assert raised.value.message == f"`audio` URL {url} answered HTTP {status}"


def test_connection_refused_is_reported() -> None:
    with pytest.raises(FetchError, match=r"^`audio` URL http://127\.0\.0\.1:1/a could not be reached \(.+\)$"):
        private_fetcher().fetch("http://127.0.0.1:1/a")


def test_declared_oversize_is_refused_before_reading(server: FetchServer) -> None:
    fetcher = private_fetcher(max_bytes=50 * 1024 * 1024)
    with pytest.raises(FetchError) as raised:
        fetcher.fetch(server.url("/declared-big?n=60000000"))
    assert raised.value.message.endswith("is larger than the 50 MB limit (it declares 57.2 MB)")


@pytest.mark.parametrize("path", ["/undeclared-big", "/chunked-big"])
def test_undeclared_oversize_is_cut_off_while_streaming(server: FetchServer, path: str) -> None:
    with pytest.raises(FetchError, match=r"is larger than the 1000 bytes limit$"):
        private_fetcher().fetch(server.url(f"{path}?n=5000000"))


def test_body_of_exactly_the_limit_is_accepted(server: FetchServer) -> None:
    assert len(private_fetcher().fetch(server.url("/undeclared-big?n=1000"))) == 1000


def test_slow_server_times_out(server: FetchServer) -> None:
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"^`audio` URL \S+ timed out after 0\.5 s$"):
        private_fetcher(timeout_seconds=0.5).fetch(server.url("/slow-headers?s=3"))
    assert time.monotonic() - started < 1.5


def test_trickling_body_is_stopped_by_the_total_deadline(server: FetchServer) -> None:
    """Each byte arrives well within a per-read timeout; only the deadline for the whole fetch ends it."""
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"timed out after 0\.5 s$"):
        private_fetcher(timeout_seconds=0.5).fetch(server.url("/drip"))
    assert time.monotonic() - started < 1.0


def test_https_connects_to_the_pinned_address_but_verifies_the_name(
    tls_server: tuple[FetchServer, TlsSetup], connections: list[tuple[str, int]]
) -> None:
    server, tls = tls_server
    resolver = RecordingResolver({"public.test": ["127.0.0.1"]})
    fetcher = SafeFetcher(
        max_bytes=1000,
        timeout_seconds=5,
        resolver=resolver,
        is_allowed_address=loopback_server_is_public,
        ssl_context=ssl.create_default_context(cafile=tls.ca_file),
    )
    assert (
        fetcher.fetch(server.url("/host", host="public.test", scheme="https")) == f"public.test:{server.port}".encode()
    )
    assert tls.sni_seen == ["public.test"]
    assert connections == [("127.0.0.1", server.port)]


def test_https_certificate_for_another_name_is_refused(tls_server: tuple[FetchServer, TlsSetup]) -> None:
    server, tls = tls_server
    fetcher = SafeFetcher(
        max_bytes=1000,
        timeout_seconds=5,
        resolver=RecordingResolver({"other.test": ["127.0.0.1"]}),
        is_allowed_address=loopback_server_is_public,
        ssl_context=ssl.create_default_context(cafile=tls.ca_file),
    )
    with pytest.raises(FetchError, match=r"could not be reached \(.*CERTIFICATE_VERIFY_FAILED.*\)"):
        fetcher.fetch(server.url("/host", host="other.test", scheme="https"))


def test_constructor_rejects_nonsense_limits() -> None:
    with pytest.raises(ValueError):
        SafeFetcher(max_bytes=0, timeout_seconds=1)
    with pytest.raises(ValueError):
        SafeFetcher(max_bytes=1, timeout_seconds=0)

"""The fetcher never reaches a non-public address: directly, through DNS, or through redirects."""

from __future__ import annotations

import socket
from urllib.parse import quote

import pytest

from aceserve.domain.errors import TaskInputError
from aceserve.fetch import FetchError, SafeFetcher
from tests.fetch.fetch_servers import FetchServer, RecordingResolver, loopback_server_is_public


def fetcher(**overrides: object) -> SafeFetcher:
    options: dict[str, object] = {"max_bytes": 1_000_000, "timeout_seconds": 5.0}
    options.update(overrides)
    return SafeFetcher(**options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("localhost", "127.0.0.1"),  # through the system resolver
        ("127.1", "127.0.0.1"),  # shorthand the resolver expands
        ("2130706433", "127.0.0.1"),  # the same address as one integer
        ("[::1]", "::1"),
        ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1"),
        ("0.0.0.0", "0.0.0.0"),
        ("10.0.0.1", "10.0.0.1"),
        ("192.168.1.1", "192.168.1.1"),
        ("169.254.169.254", "169.254.169.254"),
        ("[fd00::1]", "fd00::1"),
        ("[fe80::1]", "fe80::1"),
        ("100.64.0.1", "100.64.0.1"),
    ],
)
def test_private_targets_are_refused_without_connecting(
    server: FetchServer, connections: list[tuple[str, int]], host: str, address: str
) -> None:
    url = f"http://{host}:{server.port}/ok"
    with pytest.raises(FetchError) as raised:
        fetcher().fetch(url, field="audio")
    message = raised.value.message
    if host != "localhost":  # localhost may resolve to ::1 first
        assert message == (
            f"`audio` URL {url} resolves to a private address ({address}); only public addresses are allowed"
        )
    assert "resolves to a private address" in message
    assert isinstance(raised.value, TaskInputError)
    assert connections == []
    assert server.seen == []


def test_a_name_with_any_private_address_is_refused(connections: list[tuple[str, int]]) -> None:
    resolver = RecordingResolver({"mixed.test": ["8.8.8.8", "10.0.0.1"]})
    with pytest.raises(FetchError, match=r"resolves to a private address \(10\.0\.0\.1\)"):
        fetcher(resolver=resolver).fetch("http://mixed.test/a.mp3")
    assert resolver.calls == [("mixed.test", 80)]
    assert connections == []


@pytest.mark.parametrize(
    "target",
    [
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.2:{port}/ok",  # loopback, but not the one address the test treats as public
        "http://[::1]:{port}/ok",
        "http://internal.test:{port}/ok",  # a name that resolves inside
        "http://[::ffff:10.0.0.1]/",
    ],
)
def test_redirect_to_a_private_address_is_refused(
    server: FetchServer, connections: list[tuple[str, int]], target: str
) -> None:
    target = target.format(port=server.port)
    resolver = RecordingResolver({"public.test": ["127.0.0.1"], "internal.test": ["10.1.2.3"]})
    url = server.url(f"/redirect?to={quote(target, safe='')}", host="public.test")
    with pytest.raises(FetchError) as raised:
        fetcher(resolver=resolver, is_allowed_address=loopback_server_is_public).fetch(url, field="audio")
    assert raised.value.message.startswith(f"`audio` URL {url} (redirected to {target}) resolves to a private address")
    assert connections == [("127.0.0.1", server.port)]  # the first hop only
    assert [seen.path for seen in server.seen] == ["/redirect"]


def test_redirect_to_another_scheme_is_refused(server: FetchServer) -> None:
    resolver = RecordingResolver({"public.test": ["127.0.0.1"]})
    url = server.url("/redirect?to=file:///etc/passwd", host="public.test")
    with pytest.raises(FetchError, match=r"\(redirected to file:/+etc/passwd\) must use http or https$"):
        fetcher(resolver=resolver, is_allowed_address=loopback_server_is_public).fetch(url)


def test_each_hop_is_resolved_exactly_once_and_connected_to_as_resolved(
    server: FetchServer, connections: list[tuple[str, int]]
) -> None:
    """DNS rebinding: a second lookup could answer 10.0.0.1; pinning means there is no second lookup."""
    answers = iter([["127.0.0.1"], ["10.0.0.1"], ["10.0.0.1"]])
    resolver = RecordingResolver({"public.test": ["127.0.0.1"], "rebind.test": lambda: next(answers)})
    hop = quote(server.url("/host", host="rebind.test"), safe="")
    body = fetcher(resolver=resolver, is_allowed_address=loopback_server_is_public).fetch(
        server.url(f"/redirect?to={hop}", host="public.test")
    )
    assert body == f"rebind.test:{server.port}".encode()  # Host header kept the name
    assert resolver.calls == [("public.test", server.port), ("rebind.test", server.port)]
    assert connections == [("127.0.0.1", server.port), ("127.0.0.1", server.port)]


def test_unresolvable_name_is_reported(connections: list[tuple[str, int]]) -> None:
    with pytest.raises(FetchError, match=r"^`audio` URL http://nowhere\.test/x could not be reached \(its host"):
        fetcher(resolver=RecordingResolver({})).fetch("http://nowhere.test/x")
    assert connections == []


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://example.com/a.mp3", "must use http or https"),
        ("file:///etc/passwd", "must use http or https"),
        ("gopher://example.com/", "must use http or https"),
        ("example.com/a.mp3", "must use http or https"),
        ("http:///a.mp3", "has no host"),
        ("http://example.com:99999/", "has an invalid port (99999)"),
        ("http://exa mple.com/", "is not a valid URL (bad host name)"),
        ("http://a..b/", "is not a valid URL (bad host name)"),
    ],
)
def test_malformed_urls_are_refused(url: str, problem: str, connections: list[tuple[str, int]]) -> None:
    with pytest.raises(FetchError) as raised:
        fetcher(resolver=RecordingResolver({})).fetch(url, field="style_audio")
    assert raised.value.message.startswith(f"`style_audio` URL {url} {problem}")
    assert raised.value.field == "style_audio"
    assert raised.value.url == url
    assert connections == []


def test_default_resolver_is_used_when_none_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def fake_getaddrinfo(host: str, port: int, *args: object, **kwargs: object) -> list[tuple[object, ...]]:
        calls.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.9.8.7", port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(FetchError, match=r"\(10\.9\.8\.7\)"):
        fetcher().fetch("https://xn--bcher-kva.example/a.mp3")
    with pytest.raises(FetchError, match=r"\(10\.9\.8\.7\)"):
        fetcher().fetch("https://Bücher.example/a.mp3")
    assert calls == ["xn--bcher-kva.example", "xn--bcher-kva.example"]  # IDNA before DNS

"""Webhook endpoints never reach private addresses unless allowed (blind SSRF): refused at create when
the host is a private literal, refused at send after resolving once, and posted to the checked
address only (DNS rebinding gains nothing)."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from aceserve.domain.errors import InvalidInput
from aceserve.settings import Settings
from aceserve.store.db import Database
from aceserve.webhooks import check_endpoint_at_create
from tests.api.server import make_settings, running_server
from tests.api.test_tasks_contract import assert_error, txt2audio
from tests.fetch.fetch_servers import RecordingResolver, loopback_server_is_public
from tests.loopback import make_tls_setup
from tests.network_guard import guard_network
from tests.webhooks.conftest import SenderFactory
from tests.webhooks.helpers import Receiver, insert_account, insert_delivery, insert_task, load_delivery

HINT = "set ACESERVE_ALLOW_PRIVATE_WEBHOOKS=true to allow it"


@pytest.fixture(autouse=True)
def connections(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every outgoing connection of the test; anything but loopback fails the test at once, and the
    system resolver is kept to names that never leave the machine."""
    return guard_network(monkeypatch)


@pytest.fixture
def strict(tmp_path: Path) -> Settings:
    """The production default: private webhooks not allowed."""
    return Settings(data_dir=tmp_path, webhook_timeout_seconds=2.0, webhook_poll_seconds=0.05)


def _names(table: dict[str, Sequence[str]]) -> Any:
    """Made-up ``.test`` names from ``table``; anything else through the (guarded) system resolver."""

    def resolve(host: str, port: int) -> Sequence[str]:
        if host.endswith(".test"):
            if host not in table:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return table[host]
        return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]

    return resolve


def _deliver_to(database: Database, endpoint: str) -> str:
    account_id, _ = insert_account(database)
    task_id = insert_task(database, account_id, endpoint=endpoint)
    return insert_delivery(database, task_id, account_id, endpoint=endpoint)


# --- send time -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("10.0.0.1", "10.0.0.1"),
        ("169.254.169.254", "169.254.169.254"),  # cloud metadata
        ("[::1]", "::1"),
        ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1"),
        ("127.1", "127.0.0.1"),  # shorthand the system resolver expands
        ("2130706433", "127.0.0.1"),  # the same address as one integer
        ("internal.test", "10.1.2.3"),  # a name that resolves inside
        ("mixed.test", "10.0.0.1"),  # one private address among public ones is enough
    ],
)
def test_a_private_endpoint_is_dead_at_once_without_connecting(
    database: Database,
    receiver: Receiver,
    make_sender: SenderFactory,
    strict: Settings,
    connections: list[tuple[str, int]],
    host: str,
    address: str,
) -> None:
    delivery_id = _deliver_to(database, receiver.url_at(host))
    resolver = _names({"internal.test": ["10.1.2.3"], "mixed.test": ["8.8.8.8", "10.0.0.1"]})
    sender = make_sender(settings_=strict, resolver=resolver, policy=None)
    assert sender.run_once() == 1
    row = load_delivery(database, delivery_id)
    assert (row.state, row.attempts, row.last_status) == ("dead", 1, None)
    assert row.last_error == f"endpoint resolves to a private address ({address}); {HINT}"
    assert sender.run_once() == 0  # no retries
    assert connections == []
    assert receiver.received() == []


def test_a_host_name_that_does_not_resolve_is_retried(
    database: Database, make_sender: SenderFactory, strict: Settings, connections: list[tuple[str, int]]
) -> None:
    delivery_id = _deliver_to(database, "https://gone.test/hook")
    make_sender(settings_=strict, resolver=RecordingResolver({}), policy=None).run_once()
    row = load_delivery(database, delivery_id)
    assert (row.state, row.attempts, row.last_status) == ("pending", 1, None)
    assert row.last_error.startswith("endpoint host name does not resolve: ")
    assert row.next_attempt_at is not None
    assert connections == []


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1", "localhost", "[::ffff:127.0.0.1]"])
def test_private_endpoints_are_delivered_when_allowed(
    database: Database, receiver: Receiver, make_sender: SenderFactory, tmp_path: Path, host: str
) -> None:
    allowed = Settings(data_dir=tmp_path, webhook_timeout_seconds=2.0, allow_private_webhooks=True)
    delivery_id = _deliver_to(database, receiver.url_at(host))
    make_sender(settings_=allowed).run_once()
    [request] = receiver.received()
    assert request.headers["host"] == f"{host}:{receiver.port}"
    assert load_delivery(database, delivery_id).state == "delivered"


def test_allowing_private_endpoints_still_refuses_addresses_no_receiver_listens_on(
    database: Database, make_sender: SenderFactory, tmp_path: Path, connections: list[tuple[str, int]]
) -> None:
    allowed = Settings(data_dir=tmp_path, webhook_timeout_seconds=2.0, allow_private_webhooks=True)
    delivery_id = _deliver_to(database, "http://0.0.0.0:9/hook")
    make_sender(settings_=allowed).run_once()
    row = load_delivery(database, delivery_id)
    assert (
        row.state == "dead" and row.last_error == "endpoint resolves to an address no receiver can listen on (0.0.0.0)"
    )
    assert connections == []


def test_the_host_is_resolved_once_per_attempt_and_the_post_goes_to_the_checked_address(
    database: Database,
    receiver: Receiver,
    make_sender: SenderFactory,
    strict: Settings,
    connections: list[tuple[str, int]],
) -> None:
    """DNS rebinding: the name answers a "public" address when checked and a private one after.
    The POST still goes to the checked address, and the next attempt's check sees the new answer."""
    answers = iter([["127.0.0.1"], ["10.0.0.1"]])
    resolver = RecordingResolver({"public.test": lambda: next(answers)})
    sender = make_sender(settings_=strict, resolver=resolver, is_allowed_address=loopback_server_is_public)
    first = _deliver_to(database, receiver.url_at("public.test"))
    assert sender.run_once() == 1
    assert load_delivery(database, first).state == "delivered"
    [request] = receiver.received()
    assert request.headers["host"] == f"public.test:{receiver.port}"
    assert resolver.calls == [("public.test", receiver.port)]
    assert connections == [("127.0.0.1", receiver.port)]

    second = _deliver_to(database, receiver.url_at("public.test"))
    assert sender.run_once() == 1
    row = load_delivery(database, second)
    assert (row.state, row.last_error) == ("dead", f"endpoint resolves to a private address (10.0.0.1); {HINT}")
    assert len(receiver.received()) == 1
    assert connections == [("127.0.0.1", receiver.port)]


@pytest.fixture
def tls_receiver(tmp_path: Path) -> Iterator[tuple[Receiver, ssl.SSLContext, list[str | None]]]:
    """An HTTPS receiver whose certificate (from a throwaway CA) is valid for public.test only."""
    pytest.importorskip("cryptography")
    setup = make_tls_setup(tmp_path)
    server = Receiver(tls=setup.server_context).start()
    yield server, ssl.create_default_context(cafile=setup.ca_file), setup.sni_seen
    server.stop()


def test_https_to_a_pinned_address_uses_the_endpoint_name_for_sni_and_the_certificate(
    database: Database,
    tls_receiver: tuple[Receiver, ssl.SSLContext, list[str | None]],
    make_sender: SenderFactory,
    strict: Settings,
) -> None:
    receiver, client_context, sni_seen = tls_receiver
    resolver = RecordingResolver({"public.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    sender = make_sender(
        settings_=strict,
        resolver=resolver,
        is_allowed_address=loopback_server_is_public,
        ssl_context=client_context,
        policy=None,
    )
    good = _deliver_to(database, receiver.url_at("public.test"))
    sender.run_once()
    assert load_delivery(database, good).state == "delivered"
    assert sni_seen == ["public.test"]
    assert receiver.received()[0].headers["host"] == f"public.test:{receiver.port}"

    wrong_name = _deliver_to(database, receiver.url_at("other.test"))
    sender.run_once()
    row = load_delivery(database, wrong_name)
    assert row.state == "pending" and "CERTIFICATE_VERIFY_FAILED" in row.last_error
    assert len(receiver.received()) == 1


# --- create time -----------------------------------------------------------------------------------

PRIVATE_LITERALS = [
    ("http://127.0.0.1:8000/hook", "127.0.0.1"),
    ("http://10.0.0.1/hook", "10.0.0.1"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
    ("http://0.0.0.0/", "0.0.0.0"),
    ("https://user:pw@192.168.1.1:8443/x?y=1", "192.168.1.1"),
    ("http://[::1]:8080/hook", "::1"),
    ("http://[::ffff:127.0.0.1]/hook", "::ffff:127.0.0.1"),
    ("http://[fd00::1]/hook", "fd00::1"),
    ("http://127.1/hook", "127.0.0.1"),
    ("http://2130706433/hook", "127.0.0.1"),
    ("http://0x7f.1/hook", "127.0.0.1"),
    ("http://localhost:8000/hook", "localhost"),
    ("http://LOCALHOST./hook", "localhost"),
    ("http://api.localhost/hook", "localhost"),
]


@pytest.mark.parametrize(("endpoint", "shown"), PRIVATE_LITERALS)
def test_create_check_refuses_an_endpoint_spelling_a_private_address(endpoint: str, shown: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        check_endpoint_at_create(endpoint, allow_private=False)
    assert raised.value.field == "config.webhook_config.endpoint"
    assert raised.value.rule.startswith(f"points at a private address ({shown}); ")
    assert "ACESERVE_ALLOW_PRIVATE_WEBHOOKS=true" in raised.value.rule
    check_endpoint_at_create(endpoint, allow_private=True)  # allowed: no complaint


@pytest.mark.parametrize(
    "endpoint",
    [
        "",
        "https://example.com/hook",
        "http://8.8.8.8/hook",
        "http://[2001:4860:4860::8888]/hook",
        "http://internal.test/hook",  # a name: only the sender's resolution can judge it
        "http://10.0.0.1.example.com/hook",
        "http://localhost.example.com/hook",
        "http://deadbeef/hook",  # hex digits, but no address form
    ],
)
def test_create_check_lets_names_and_public_addresses_through(endpoint: str) -> None:
    check_endpoint_at_create(endpoint, allow_private=False)


def test_create_answers_400_for_a_literal_private_endpoint_over_http(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path / "data", database_url, workers=0, allow_private_webhooks=False)
    with running_server(settings) as server:
        for endpoint, shown in [("http://10.0.0.1/hook", "10.0.0.1"), ("http://[::1]:9/hook", "::1")]:
            body = {**txt2audio(), "config": {"webhook_config": {"endpoint": endpoint}}}
            response = server.client.post("/api/v1/task", json=body)
            assert_error(response, 400, "`config.webhook_config.endpoint`", f"points at a private address ({shown})")
        public = {**txt2audio(), "config": {"webhook_config": {"endpoint": "https://hooks.example.com/x"}}}
        assert server.client.post("/api/v1/task", json=public).status_code == 200


def test_create_accepts_a_private_endpoint_when_allowed_over_http(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path / "data", database_url, workers=0, allow_private_webhooks=True)
    with running_server(settings) as server:
        body = {**txt2audio(), "config": {"webhook_config": {"endpoint": "http://127.0.0.1:9/hook"}}}
        assert server.client.post("/api/v1/task", json=body).status_code == 200

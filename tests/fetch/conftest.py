"""Fixtures: loopback HTTP(S) servers, and a guard that fails any test trying to leave loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fetch.fetch_servers import FetchServer
from tests.loopback import TlsSetup, make_tls_setup, serving
from tests.network_guard import guard_network


@pytest.fixture
def server() -> Iterator[FetchServer]:
    with serving(FetchServer()) as running:
        yield running


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[FetchServer, TlsSetup]]:
    pytest.importorskip("cryptography")
    setup = make_tls_setup(tmp_path)
    with serving(FetchServer(tls=setup.server_context)) as running:
        yield running, setup


@pytest.fixture(autouse=True)
def connections(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every outgoing connection of the test; anything but loopback fails the test at once.

    The system resolver is also kept to names that never leave the machine.
    """
    return guard_network(monkeypatch)

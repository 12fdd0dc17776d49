"""Fixtures: loopback HTTP(S) servers, and a guard that fails any test trying to leave loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fetch.fetch_servers import LoopbackServer, TlsSetup, make_tls_setup
from tests.network_guard import guard_network


def _serve(server: LoopbackServer) -> Iterator[LoopbackServer]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    yield from _serve(LoopbackServer())


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[LoopbackServer, TlsSetup]]:
    pytest.importorskip("cryptography")
    setup = make_tls_setup(tmp_path)
    for running in _serve(LoopbackServer(tls=setup.server_context)):
        yield running, setup


@pytest.fixture(autouse=True)
def connections(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every outgoing connection of the test; anything but loopback fails the test at once.

    The system resolver is also kept to names that never leave the machine.
    """
    return guard_network(monkeypatch)

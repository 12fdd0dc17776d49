"""Fixtures: loopback HTTP(S) servers, and a guard that fails any test trying to leave loopback."""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fetch.fetch_servers import LoopbackServer, TlsSetup, make_tls_setup


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
    attempts: list[tuple[str, int]] = []
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> None:
        host, port = str(address[0]), int(address[1])
        attempts.append((host, port))
        if not ipaddress.ip_address(host.split("%")[0]).is_loopback:
            raise AssertionError(f"the test tried to connect to {host}:{port}")
        real_connect(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        text = host.decode() if isinstance(host, bytes) else str(host)
        if text != "localhost" and not _numeric(text):
            raise AssertionError(f"the test tried to resolve {text!r} through DNS")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return attempts


def _numeric(host: str) -> bool:
    try:
        socket.inet_aton(host)
    except OSError:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return False
    return True

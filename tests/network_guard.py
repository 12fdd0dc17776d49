"""A guard for tests of code that reaches out to user-supplied addresses (input fetches, webhooks):
any connection that is not to loopback, and any name lookup that would leave the machine, fails
the test at once. Returns the list of connection attempts, so tests can assert none were made."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest


def guard_network(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    attempts: list[tuple[str, int]] = []
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> None:
        host, port = str(address[0]), int(address[1])
        attempts.append((host, port))
        parsed = ipaddress.ip_address(host.split("%")[0])
        if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
            parsed = parsed.ipv4_mapped
        if not parsed.is_loopback:
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

"""The fetcher tests' loopback server (``tests/loopback.py``) and its routes, and a resolver that records
its calls.

Test modules import these names from here (conftest.py is for fixtures only).
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aceserve.fetch import IPAddress, is_public_address
from tests.loopback import LoopbackServer

LOOPBACK_SERVER = ipaddress.IPv4Address("127.0.0.1")


def loopback_server_is_public(address: IPAddress) -> bool:
    """Test policy: the test server's 127.0.0.1 stands in for the internet; all else as in production."""
    return address == LOOPBACK_SERVER or is_public_address(address)


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


class _Handler(BaseHTTPRequestHandler):
    server: FetchServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        self.server.seen.append(Seen(parts.path, {k.lower(): v for k, v in self.headers.items()}))
        route = getattr(self, "route_" + parts.path.strip("/").replace("-", "_"), None)
        try:
            if route is None:
                self.reply(404, b"not found")
            else:
                route(query)
        except (ConnectionError, ssl.SSLError):
            pass  # the client gave up on purpose

    def reply(self, status: int, body: bytes, headers: Sequence[tuple[str, str]] = ()) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def route_ok(self, query: dict[str, str]) -> None:
        self.reply(200, b"x" * int(query.get("n", "11")))

    def route_host(self, query: dict[str, str]) -> None:
        self.reply(200, self.headers["Host"].encode())

    def route_redirect(self, query: dict[str, str]) -> None:
        self.reply(int(query.get("status", "302")), b"", [("Location", query["to"])])

    def route_redirect_without_location(self, query: dict[str, str]) -> None:
        self.reply(302, b"")

    def route_loop(self, query: dict[str, str]) -> None:
        self.reply(302, b"", [("Location", "/loop")])

    def route_error(self, query: dict[str, str]) -> None:
        self.reply(500, b"boom")

    def route_declared_big(self, query: dict[str, str]) -> None:
        size = int(query["n"])
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        self.wfile.write(b"x" * size)

    def route_undeclared_big(self, query: dict[str, str]) -> None:
        """No Content-Length: the body runs until the server closes the connection."""
        self.send_response(200)
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        for _ in range(int(query["n"]) // 1000):
            self.wfile.write(b"x" * 1000)

    def route_chunked_big(self, query: dict[str, str]) -> None:
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for _ in range(int(query["n"]) // 1000):
            self.wfile.write(b"3e8\r\n" + b"x" * 1000 + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")

    def route_slow_headers(self, query: dict[str, str]) -> None:
        time.sleep(float(query.get("s", "3")))
        self.reply(200, b"late")

    def route_drip(self, query: dict[str, str]) -> None:
        """A byte at a time, each well within any per-read timeout: only a total deadline stops it."""
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        for _ in range(1000):
            self.wfile.write(b"x")
            self.wfile.flush()
            time.sleep(0.05)


class FetchServer(LoopbackServer):
    """The routes above on loopback, recording every request it sees."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(_Handler, tls)
        self.seen: list[Seen] = []


class RecordingResolver:
    """Resolves made-up names from a table (callables give a different answer per call)."""

    def __init__(self, table: dict[str, Sequence[str] | Callable[[], Sequence[str]]]) -> None:
        self.table = table
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> Sequence[str]:
        self.calls.append((host, port))
        answer = self.table.get(host)
        if answer is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return answer() if callable(answer) else answer

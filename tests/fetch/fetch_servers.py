"""Real HTTP(S) servers on loopback for the fetcher tests, and a resolver that records its calls.

Test modules import these names from here (conftest.py is for fixtures only).
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aceserve.fetch import IPAddress, is_public_address

LOOPBACK_SERVER = ipaddress.IPv4Address("127.0.0.1")


def loopback_server_is_public(address: IPAddress) -> bool:
    """Test policy: the test server's 127.0.0.1 stands in for the internet; all else as in production."""
    return address == LOOPBACK_SERVER or is_public_address(address)


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


class _Handler(BaseHTTPRequestHandler):
    server: LoopbackServer
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


class LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        super().__init__((str(LOOPBACK_SERVER), 0), _Handler)
        self.seen: list[Seen] = []
        self.tls = tls

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True)
        return sock, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError | ssl.SSLError):
            return  # the client hung up on purpose (size cap, timeout, refused certificate)
        super().handle_error(request, client_address)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def url(self, path: str, host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"


@dataclass
class TlsSetup:
    """A server context whose certificate (from a throwaway CA) is valid for public.test only."""

    server_context: ssl.SSLContext
    ca_file: Path
    sni_seen: list[str | None] = field(default_factory=list)


def make_tls_setup(directory: Path) -> TlsSetup:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    now = datetime.datetime.now(tz=datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    key = ec.generate_private_key(ec.SECP256R1())

    def certificate(subject: str, public_key: Any, ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(name("test CA"))
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName("public.test")]), critical=False)
        return builder.sign(ca_key, hashes.SHA256())

    ca_file = directory / "ca.pem"
    ca_file.write_bytes(certificate("test CA", ca_key.public_key(), ca=True).public_bytes(serialization.Encoding.PEM))
    chain = directory / "server.pem"
    chain.write_bytes(
        certificate("public.test", key.public_key(), ca=False).public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain)
    setup = TlsSetup(server_context=context, ca_file=ca_file)

    def record_sni(_sock: ssl.SSLObject, server_name: str | None, _context: ssl.SSLContext) -> None:
        setup.sni_seen.append(server_name)

    context.sni_callback = record_sni  # type: ignore[assignment]
    return setup


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

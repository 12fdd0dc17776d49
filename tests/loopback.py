"""One real HTTP(S) server on loopback for tests that need a peer on the network: fetches, webhook
receivers, input audio served by URL. Each user gives it a request handler; with a server context it
speaks TLS (``make_tls_setup`` makes one from a throwaway CA).

Test modules import these names from here (conftest.py is for fixtures only).
"""

from __future__ import annotations

import datetime
import socket
import ssl
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar


class LoopbackServer(ThreadingHTTPServer):
    """Serves ``handler`` on 127.0.0.1 (an ephemeral port), speaking TLS when given a server context."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, handler: type[BaseHTTPRequestHandler], tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), handler)
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

    def url(self, path: str, host: str = "127.0.0.1", scheme: str | None = None) -> str:
        scheme = scheme or ("https" if self.tls is not None else "http")
        return f"{scheme}://{host}:{self.port}{path}"

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


S = TypeVar("S", bound=LoopbackServer)


@contextmanager
def serving(server: S) -> Iterator[S]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


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

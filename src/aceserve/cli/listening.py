"""Listening sockets: bound before anything slow (a model load), so a port in use fails in a second;
"listening" is announced only once the server accepts connections."""

from __future__ import annotations

import errno
import socket
import threading
from collections.abc import Callable
from types import FrameType

import click
import uvicorn

from aceserve.settings import Settings, derived_public_url


def bind(host: str, port: int, *, what: str = "the API") -> socket.socket:
    """A TCP socket bound to ``host:port`` (port 0: any free port), or a clear error that says what to do."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise cannot_listen(exc, what, host, port, "--port (or ACESERVE_PORT)") from exc
    sock.set_inheritable(True)
    return sock


def cannot_listen(exc: OSError, what: str, host: str, port: int, flag: str) -> click.ClickException:
    if exc.errno == errno.EADDRINUSE:
        return click.ClickException(
            f"Cannot listen for {what} on {host}:{port}: the port is in use (another aceserve?). "
            f"Stop that process or choose another port with {flag}."
        )
    return click.ClickException(f"Cannot listen for {what} on {host}:{port}: {exc.strerror or exc}.")


def serve_metrics(host: str, port: int) -> None:
    """A worker's own metrics endpoint, served from a thread, or a clear error."""
    from aceserve.telemetry import metrics

    try:
        metrics.serve(host, port)
    except OSError as exc:
        raise cannot_listen(exc, "metrics", host, port, "--metrics-port") from exc


def bound_settings(settings: Settings, sock: socket.socket) -> Settings:
    """The settings with the port actually bound (port 0 picks one), and the public URL derived from it
    unless one was given."""
    port = int(sock.getsockname()[1])
    if port == settings.port:
        return settings
    public_url = settings.public_url
    if public_url == derived_public_url(settings.host, settings.port):
        public_url = derived_public_url(settings.host, port)
    return settings.model_copy(update={"port": port, "public_url": public_url})


class AnnouncingServer(uvicorn.Server):
    """A uvicorn server that calls ``on_listening`` once it accepts connections (after the app's start), and
    ``on_exit`` (in a thread of its own) when a signal asks it to stop, before it waits for open connections."""

    def __init__(
        self, config: uvicorn.Config, on_listening: Callable[[], None], on_exit: Callable[[], None] | None = None
    ) -> None:
        super().__init__(config)
        self.on_listening = on_listening
        self.on_exit = on_exit

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if self.on_exit is not None:  # not in the signal handler itself: it may hold locks the callback takes
            threading.Thread(target=self.on_exit, name="on-exit", daemon=True).start()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and not self.should_exit:
            self.on_listening()

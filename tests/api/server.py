"""An aceserve app for tests: in-process through the ASGI transport (``serving``), or a real HTTP server
on loopback (``running_server``) where the socket is the point (streamed bodies, end-to-end runs)."""

from __future__ import annotations

import itertools
import os
import random
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.testclient import TestClient

from aceserve.api.app import BackgroundService, create_app
from aceserve.cli.embedded import serve_in_thread
from aceserve.domain.errors import NotFound
from aceserve.settings import Settings
from aceserve.store import accounts
from aceserve.store.db import Database
from aceserve.store.migrate import open_database

PORT_BASE = 20000
PORT_BLOCK = 500
"""Under pytest-xdist, worker ``gwN`` takes its ports from ``PORT_BASE + N * PORT_BLOCK`` on, below the
kernel's ephemeral range (32768 up): a port one worker picked but has not bound yet (a subprocess still
importing) is never handed to another worker, nor taken by a client connection's local port."""


def _worker_ports() -> Iterator[int] | None:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return None
    start = PORT_BASE + int(worker[2:]) * PORT_BLOCK
    assert start + PORT_BLOCK <= 32768, f"too many xdist workers for the test port blocks: {worker}"
    offset = random.randrange(PORT_BLOCK)  # two runs at once on one machine start apart
    return itertools.cycle(start + (offset + n) % PORT_BLOCK for n in range(PORT_BLOCK))


_PORTS = _worker_ports()


def free_port() -> int:
    """A loopback port nothing listens on: the kernel's pick, or the next free one of this xdist worker's block."""
    if _PORTS is None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])
    for _ in range(PORT_BLOCK):
        port = next(_PORTS)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise AssertionError(f"no free port in this xdist worker's block ({os.environ['PYTEST_XDIST_WORKER']})")


@dataclass
class RunningServer:
    url: str
    settings: Settings
    key: str
    client: httpx.Client
    """Sends the tester's key; absolute URLs of this server (file downloads) work too."""
    app: Any
    in_process: bool = False
    """True: reached through the ASGI transport; False: a real server at ``url``."""

    def new_key(self, account: str, *, credits_usd: float | None = None, max_concurrent: int = 10) -> str:
        db = Database(self.settings.database_url)
        try:
            with db.write() as session:
                try:
                    owner = accounts.get_account_by_name(session, account)
                except NotFound:
                    owner = accounts.create_account(
                        session, account, credits_usd=credits_usd, max_concurrent=max_concurrent
                    )
                return accounts.create_key(session, owner).secret
        finally:
            db.dispose()

    def as_key(self, key: str) -> httpx.Client:
        return self.anonymous(headers={"x-api-key": key})

    def anonymous(self, headers: dict[str, str] | None = None) -> httpx.Client:
        """A client without the tester's key (``headers`` instead)."""
        if self.in_process:  # the app's lifespan already runs under ``client``
            return TestClient(self.app, base_url=self.url, headers=headers, raise_server_exceptions=False)
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def key_for_tester(settings: Settings) -> str:
    db = open_database(settings.database_url)
    try:
        with db.write() as session:
            try:
                owner = accounts.get_account_by_name(session, "tester")
            except NotFound:
                owner = accounts.create_account(session, "tester", credits_usd=None, max_concurrent=10)
            return accounts.create_key(session, owner).secret
    finally:
        db.dispose()


@contextmanager
def serving(settings: Settings, background: Sequence[BackgroundService] = ()) -> Iterator[RunningServer]:
    """The app in this process, its lifespan running, reached through the ASGI transport (no socket)."""
    key = key_for_tester(settings)
    app = create_app(settings, background=background)
    with TestClient(
        app, base_url=settings.public_url, headers={"x-api-key": key}, raise_server_exceptions=False
    ) as client:
        yield RunningServer(settings.public_url, settings, key, client, app, in_process=True)


@contextmanager
def running_server(settings: Settings, background: Sequence[BackgroundService] = ()) -> Iterator[RunningServer]:
    """The app served by uvicorn on a loopback port."""
    key = key_for_tester(settings)
    app = create_app(settings, background=background)
    with serve_in_thread(app, settings):
        client = httpx.Client(base_url=settings.public_url, headers={"x-api-key": key}, timeout=30)
        try:
            yield RunningServer(settings.public_url, settings, key, client, app)
        finally:
            client.close()


def make_settings(data_dir: Any, database_url: str, **overrides: Any) -> Settings:
    port = free_port()
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": database_url,
        "host": "127.0.0.1",
        "port": port,
        "heartbeat_seconds": 0.5,
        "poll_seconds": 0.5,
        "webhook_poll_seconds": 0.2,
        "allow_private_webhooks": True,
        **overrides,
    }
    return Settings(**values)

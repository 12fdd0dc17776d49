"""A real aceserve HTTP server on loopback, for tests."""

from __future__ import annotations

import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from aceserve.api.app import BackgroundService, create_app
from aceserve.cli.embedded import serve_in_thread
from aceserve.domain.errors import NotFound
from aceserve.settings import Settings
from aceserve.store import accounts
from aceserve.store.db import Database
from aceserve.store.migrate import open_database


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    url: str
    settings: Settings
    key: str
    client: httpx.Client
    app: Any

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
        return httpx.Client(base_url=self.url, headers={"x-api-key": key}, timeout=30)


@contextmanager
def running_server(settings: Settings, background: Sequence[BackgroundService] = ()) -> Iterator[RunningServer]:
    db = open_database(settings.database_url)
    with db.write() as session:
        try:
            owner = accounts.get_account_by_name(session, "tester")
        except NotFound:
            owner = accounts.create_account(session, "tester", credits_usd=None, max_concurrent=10)
        key = accounts.create_key(session, owner).secret
    db.dispose()
    app = create_app(settings, background=background)
    with serve_in_thread(app, host=settings.host, port=settings.port):
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

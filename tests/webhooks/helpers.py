"""Builders and a real loopback HTTP receiver for webhook tests.

Rows are inserted directly with SQLAlchemy (account, task, outbox row) so these tests depend only on
the tables, not on how the API or the worker create them.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any

from aceserve.store.clock import new_uuid, opaque_id, utcnow
from aceserve.store.db import Database
from aceserve.store.models import Account, Task, WebhookDelivery
from aceserve.webhooks.backoff import RetryPolicy
from tests.loopback import LoopbackServer

# Waits of a millisecond or two: retry tests run in real time without sleeping long.
FAST_RETRIES = RetryPolicy(base_seconds=0.001, cap_seconds=0.002)


def new_signing_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


class Clock:
    """A settable clock for the sender and the store (starts at the real time)."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


# --- rows ------------------------------------------------------------------------------------------


def insert_account(db: Database, *, signing_secret: str | None = None) -> tuple[str, str]:
    """An account; returns (account id, its whsec_ signing secret)."""
    secret = signing_secret or new_signing_secret()
    account_id = new_uuid()
    with db.write() as session:
        session.add(
            Account(
                id=account_id,
                name=f"acct-{account_id[:8]}",
                balance_units=None,
                frozen_units=0,
                max_concurrent=10,
                plan="self-hosted",
                webhook_secret=secret,
                created_at=utcnow(),
            )
        )
    return account_id, secret


def insert_task(db: Database, account_id: str, *, endpoint: str, secret: str = "", status: str = "completed") -> str:
    task_id = new_uuid()
    now = utcnow()
    with db.write() as session:
        session.add(
            Task(
                id=task_id,
                account_id=account_id,
                task_type="txt2audio",
                status=status,
                input={"duration": 30, "lyrics": "[inst]", "negative_style_prompt": "", "style_prompt": "rock"},
                config={"service_mode": "", "webhook_config": {"endpoint": endpoint, "secret": secret}},
                output={"audio_url": "/files/x.mp3"} if status == "completed" else None,
                meta_extra={},
                created_at=now,
                updated_at=now,
                started_at=None,
                ended_at=None,
            )
        )
    return task_id


def payload_for(task_id: str, status: str) -> dict[str, Any]:
    """A payload shaped like the contract's: {"timestamp", "data": task object} (data abridged)."""
    return {
        "timestamp": int(time.time()),
        "data": {
            "task_id": task_id,
            "model": "Qubico/ace-step",
            "task_type": "txt2audio",
            "status": status,
            "input": {"style_prompt": "rock ✓ ünïcode"},
            "output": None,
            "error": {"code": 0, "raw_message": "", "message": "", "detail": None},
        },
    }


def insert_delivery(
    db: Database,
    task_id: str,
    account_id: str,
    *,
    endpoint: str,
    secret: str = "",
    status: str = "completed",
    created_at: datetime | None = None,
) -> str:
    delivery_id = f"msg_{opaque_id(18)}"
    created = created_at or utcnow()
    with db.write() as session:
        session.add(
            WebhookDelivery(
                id=delivery_id,
                task_id=task_id,
                account_id=account_id,
                endpoint=endpoint,
                secret=secret,
                payload=payload_for(task_id, status),
                terminal=status in ("completed", "failed"),
                state="pending",
                attempts=0,
                next_attempt_at=created,
                created_at=created,
            )
        )
    return delivery_id


def load_delivery(db: Database, delivery_id: str) -> WebhookDelivery:
    with db.read() as session:
        row = session.get(WebhookDelivery, delivery_id)
        assert row is not None
        return row


def wait_until(condition: Callable[[], bool], *, timeout: float = 5.0, interval: float = 0.005) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


# --- receiver ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    body: bytes = b"ok"


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    at: float  # time.monotonic()

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """A real HTTP(S) server on 127.0.0.1 that records every request and answers from a script.

    ``replies`` are used in order, one per request; after them every request gets ``default``.
    """

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[Received] = []
        self.replies: list[Reply] = []
        self.default = Reply()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver._lock:
                    receiver.requests.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.monotonic())
                    )
                    reply = receiver.replies.pop(0) if receiver.replies else receiver.default
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except OSError:
                    pass  # the sender gave up (timeout) and closed the connection

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = LoopbackServer(Handler, tls)

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def url(self) -> str:
        return self.url_at("127.0.0.1")

    def url_at(self, host: str) -> str:
        """The hook's URL under another host name (or address form), same port and scheme."""
        return self.server.url("/hook", host=host)

    def start(self) -> Receiver:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self.replies.extend(replies)

    def received(self) -> list[Received]:
        with self._lock:
            return list(self.requests)

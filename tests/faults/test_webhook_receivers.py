"""Webhook receivers that are down (connection refused), erroring (500) and hanging (past the timeout):
the sender keeps retrying, and once they recover every terminal event is delivered, correctly signed,
while the tasks themselves are never touched. Figures are printed (``pytest -s``)."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from standardwebhooks import Webhook

from aceserve.settings import Settings
from aceserve.store.db import Database
from aceserve.store.models import Task
from aceserve.webhooks.backoff import RetryPolicy
from aceserve.webhooks.sender import WebhookSender
from tests.api.server import free_port
from tests.faults.processes import wait_until
from tests.webhooks.helpers import insert_account, insert_delivery, insert_task, load_delivery

TIMEOUT = 1.0


class FlakyReceiver:
    """A receiver on a fixed port: ``mode`` is ``down`` (not listening), ``error`` (500), ``hang``
    (answers after the sender's timeout) or ``ok``."""

    def __init__(self, mode: str) -> None:
        self.port = free_port()
        self.mode = mode
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.failed_attempts = 0
        self.server: ThreadingHTTPServer | None = None
        if mode != "down":
            self.listen()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def listen(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                mode = receiver.mode
                if mode == "hang":
                    receiver.failed_attempts += 1
                    time.sleep(TIMEOUT * 3)
                status = 500 if mode == "error" else 200
                if mode == "error":
                    receiver.failed_attempts += 1
                elif mode == "ok":
                    receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                try:
                    self.send_response(status)
                    self.send_header("content-length", "2")
                    self.end_headers()
                    self.wfile.write(b"no" if status == 500 else b"ok")
                except OSError:
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def recover(self) -> None:
        self.mode = "ok"
        if self.server is None:
            self.listen()

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def test_terminal_events_reach_receivers_that_were_down_erroring_or_hanging(tmp_path: Path, database: Database) -> None:
    settings = Settings(data_dir=tmp_path, webhook_timeout_seconds=TIMEOUT, allow_private_webhooks=True)
    account_id, secret = insert_account(database)
    receivers = {mode: FlakyReceiver(mode) for mode in ("down", "error", "hang")}
    deliveries, tasks = {}, {}
    for mode, receiver in receivers.items():
        tasks[mode] = insert_task(database, account_id, endpoint=receiver.url, status="completed")
        deliveries[mode] = insert_delivery(database, tasks[mode], account_id, endpoint=receiver.url)
    with database.read() as session:
        before = {mode: session.get(Task, task_id).updated_at for mode, task_id in tasks.items()}  # type: ignore[union-attr]
    stop = threading.Event()
    policy = RetryPolicy(base_seconds=0.2, cap_seconds=0.5, terminal_window=timedelta(hours=1))
    sender = WebhookSender(database, settings, owner="faults", policy=policy)
    thread = threading.Thread(target=sender.run_forever, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_until(  # every receiver fails a few times
            lambda: all(load_delivery(database, d).attempts >= 2 for d in deliveries.values()), timeout=30
        )
        failing = {mode: load_delivery(database, deliveries[mode]) for mode in receivers}
        assert all(row.state == "pending" and row.attempts >= 2 for row in failing.values()), failing
        recovered = time.monotonic()
        for receiver in receivers.values():
            receiver.recover()
        took = wait_until(
            lambda: all(load_delivery(database, d).state == "delivered" for d in deliveries.values()), timeout=30
        )
    finally:
        stop.set()
        sender.wake()
        thread.join(30)
        sender.close()
        for receiver in receivers.values():
            receiver.close()
    attempts = {mode: load_delivery(database, deliveries[mode]).attempts for mode in receivers}
    print(
        f"\nwebhook receivers: attempts before delivery {attempts}, delivered {took:.1f} s after recovery "
        f"({time.monotonic() - recovered:.1f} s incl. shutdown)"
    )
    for mode, receiver in receivers.items():
        assert len(receiver.received) == 1, mode
        headers, body = receiver.received[0]
        Webhook(secret).verify(
            body.decode(), {k: headers[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")}
        )
        assert json.loads(body)["data"]["task_id"] == tasks[mode]
        assert attempts[mode] >= 2
    with database.read() as session:
        for mode, task_id in tasks.items():
            task = session.get(Task, task_id)
            assert task is not None and task.status == "completed" and task.updated_at == before[mode]

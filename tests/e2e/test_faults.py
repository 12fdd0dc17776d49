"""Faults: cancel while running, webhooks end to end, a worker killed mid-task, a server restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from aceserve.store.db import Database
from aceserve.store.models import StoredFile, Task
from tests.api.server import make_settings, running_server
from tests.e2e.conftest import serve_with_worker, wait_for
from tests.e2e.test_task_types import create

# On the base checkpoint (turbo runs 8 steps); the DiT alone, as planning reports no step progress.
SLOW = {"style_prompt": "slow", "duration": 60, "infer_steps": 200, "thinking": False}


def test_cancel_of_a_running_task_stops_it_and_releases_credit(
    tmp_path: Path, database_url: str, tiny_base_model: Path
) -> None:
    with serve_with_worker(tmp_path / "d", database_url, tiny_base_model) as server:
        task_id = create(server, "txt2audio", **SLOW)
        wait_for(server.client, task_id, ("processing",))
        started = time.monotonic()
        response = server.client.delete(f"/api/v1/task/{task_id}")
        assert response.status_code == 200 and response.json()["data"]["status"] == "processing"
        task = wait_for(server.client, task_id, timeout=30)
        assert time.monotonic() - started < 10
        assert task["status"] == "failed" and "cancelled" in task["error"]["message"]
        assert task["output"] is None and task["meta"]["usage"] == {"type": "llm", "frozen": 0, "consume": 0}


class Receiver:
    """A real webhook receiver on loopback that records what it gets."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.server.shutdown()


def test_webhooks_report_every_status_change_with_secret_and_signature(
    tmp_path: Path, database_url: str, tiny_model: Path, receiver: Receiver
) -> None:
    from standardwebhooks import Webhook

    with serve_with_worker(tmp_path / "d", database_url, tiny_model) as server:
        body = {
            "model": "Qubico/ace-step",
            "task_type": "txt2audio",
            "input": {"style_prompt": "x", "duration": 10},
            "config": {"webhook_config": {"endpoint": receiver.url, "secret": "shh"}},
        }
        task_id = server.client.post("/api/v1/task", json=body).json()["data"]["task_id"]
        wait_for(server.client, task_id)
        deadline = time.monotonic() + 30
        while len(receiver.requests) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        db = Database(server.settings.database_url)
        from aceserve.store.models import Account

        with db.read() as session:
            secret = session.scalar(select(Account.webhook_secret).where(Account.name == "tester"))
        db.dispose()
    statuses = [payload["data"]["status"] for _, payload in receiver.requests]
    assert statuses == ["pending", "processing", "completed"]
    for headers, payload in receiver.requests:
        assert headers["x-webhook-secret"] == "shh"
        assert payload["data"]["task_id"] == task_id and isinstance(payload["timestamp"], int)
        raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        assert secret is not None
        Webhook(secret).verify(raw, {k: headers[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")})
    assert receiver.requests[-1][1]["data"]["output"]["audio_url"].startswith(server.url + "/files/")


def _worker_process(data_dir: Path, database_url: str, model: Path, public_url: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ACESERVE_LEASE_SECONDS": "3",
        "ACESERVE_HEARTBEAT_SECONDS": "0.5",
        "ACESERVE_POLL_SECONDS": "0.3",
        "ACESERVE_MAX_BATCH_SIZE": "1",
    }
    command = [
        sys.executable,
        "-m",
        "aceserve",
        "worker",
        "--data-dir",
        str(data_dir),
        "--database-url",
        database_url,
        "--model",
        str(model),
        "--device",
        "cpu",
        "--public-url",
        public_url,
    ]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_worker_killed_mid_task_loses_nothing(tmp_path: Path, database_url: str, tiny_base_model: Path) -> None:
    data_dir = tmp_path / "d"
    settings = make_settings(data_dir, database_url, workers=0, worker_gone_seconds=2)
    with running_server(settings) as server:
        task_id = create(server, "txt2audio", style_prompt="x", duration=30, infer_steps=60)
        doomed = _worker_process(data_dir, database_url, tiny_base_model, server.url)
        try:
            wait_for(server.client, task_id, ("processing",), timeout=120)
        finally:
            doomed.send_signal(signal.SIGKILL)
            doomed.wait()
        killed_at = time.monotonic()
        while True:  # shown as gone once silent for the threshold, and not counted
            (shown,) = [
                w for w in server.client.get("/health").json()["data"]["workers"] if f":{doomed.pid}:" in w["id"]
            ]
            if shown["state"] == "gone":
                break
            assert time.monotonic() - killed_at < settings.worker_gone_after + 10, shown  # slack for a loaded CPU
            time.sleep(0.1)
        survivor = _worker_process(data_dir, database_url, tiny_base_model, server.url)
        try:
            task = wait_for(server.client, task_id, timeout=180)
        finally:
            survivor.terminate()
            survivor.wait(60)
        assert task["status"] == "completed", task["error"]
    db = Database(database_url)
    with db.read() as session:
        row = session.get(Task, task_id)
        outputs = session.scalars(
            select(StoredFile).where(StoredFile.task_id == task_id, StoredFile.kind == "output")
        ).all()
    db.dispose()
    assert row is not None and row.attempts == 2
    assert len(outputs) == 1


def test_restarting_the_server_loses_no_accepted_task(tmp_path: Path, database_url: str, tiny_model: Path) -> None:
    data_dir = tmp_path / "d"
    with running_server(make_settings(data_dir, database_url, workers=0)) as first:
        ids = [create(first, "txt2audio", style_prompt="x", duration=10) for _ in range(3)]
        key = first.key
    with serve_with_worker(data_dir, database_url, tiny_model) as second, second.as_key(key) as client:
        for task_id in ids:
            assert wait_for(client, task_id)["status"] == "completed"


def test_progress_moves_between_heartbeats(tmp_path: Path, database_url: str, tiny_base_model: Path) -> None:
    with serve_with_worker(tmp_path / "d", database_url, tiny_base_model, heartbeat_seconds=30) as server:
        task_id = create(server, "txt2audio", **SLOW)
        seen: list[float] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            task = server.client.get(f"/api/v1/task/{task_id}").json()["data"]
            if task["status"] in ("completed", "failed") or len(seen) > 20:
                break
            if task["status"] == "processing":
                seen.append(task["meta"]["progress"])
            time.sleep(0.1)
        assert any(0 < value < 1 for value in seen), seen
        assert seen == sorted(seen)
        server.client.delete(f"/api/v1/task/{task_id}")


def test_shutdown_puts_a_running_task_back_without_using_an_attempt(
    tmp_path: Path, database_url: str, tiny_base_model: Path
) -> None:
    with serve_with_worker(tmp_path / "d", database_url, tiny_base_model) as server:
        task_id = create(server, "txt2audio", **SLOW)
        wait_for(server.client, task_id, ("processing",))
        started = time.monotonic()
    assert time.monotonic() - started < 20  # stopped within a step, not after the whole run
    db = Database(database_url)
    with db.read() as session:
        row = session.get(Task, task_id)
    db.dispose()
    assert row is not None and row.status == "pending" and row.attempts == 0

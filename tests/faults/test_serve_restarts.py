"""``aceserve serve`` stopped with SIGTERM and then killed with SIGKILL under a steady create load: clients
retry with the same ``Idempotency-Key`` until answered, and afterwards every accepted task exists exactly
once (0 lost, 0 duplicated). Figures are printed (``pytest -s``).

Soak variant (also on PostgreSQL): ``pytest -m soak tests/faults -s``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from aceserve.store.db import Database
from aceserve.store.models import Task
from tests.api.server import free_port, key_for_tester, make_settings
from tests.faults.processes import FAST_WORKER_ENV, wait_until

LOAD_SECONDS = 2.5
BODY = {"model": "Qubico/ace-step", "task_type": "txt2audio", "input": {"style_prompt": "load", "duration": 10}}


class Load:
    """Client threads that create tasks, each retried with its key until the server answers 200."""

    def __init__(self, url: str, key: str, threads: int = 2) -> None:
        self.url, self.key = url, key
        self.accepted: dict[str, str] = {}  # Idempotency-Key -> task id
        self.retries = 0
        self.running = threading.Event()
        self.running.set()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for thread in self._threads:
            thread.start()

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, headers={"x-api-key": self.key}, timeout=5) as client:
            while self.running.is_set():
                key = uuid.uuid4().hex
                while True:  # a key, once sent, is retried until accepted: the client's promise
                    try:
                        response = client.post("/api/v1/task", json=BODY, headers={"Idempotency-Key": key})
                        if response.status_code == 200:
                            with self._lock:
                                self.accepted[key] = response.json()["data"]["task_id"]
                            break
                        assert response.status_code >= 500 or response.status_code == 429, response.text
                    except httpx.HTTPError:
                        pass
                    with self._lock:
                        self.retries += 1
                    time.sleep(0.05)

    def stop(self) -> None:
        self.running.clear()
        for thread in self._threads:
            thread.join(120)


def _serve(data_dir: Path, database_url: str, model: Path, port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "aceserve", "serve", "--data-dir", str(data_dir), "--database-url", database_url]
    command += ["--model", str(model), "--device", "cpu", "--port", str(port)]
    return subprocess.Popen(
        command, env={**os.environ, **FAST_WORKER_ENV}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _live(url: str) -> bool:
    try:
        return httpx.get(url + "/health/live", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_serve_restarts_under_create_load_lose_no_accepted_task(tmp_path: Path, tiny_model: Path) -> None:
    """On SQLite, serve's default database (the PostgreSQL run is the soak variant's)."""
    _restarts(tmp_path, f"sqlite:///{tmp_path / 'aceserve.sqlite3'}", tiny_model)


@pytest.mark.soak
@pytest.mark.timeout(3600)
def test_soak_serve_restarts_under_create_load_lose_no_accepted_task(
    tmp_path: Path, database_url: str, tiny_model: Path
) -> None:
    _restarts(tmp_path, database_url, tiny_model)


def _restarts(tmp_path: Path, database_url: str, tiny_model: Path) -> None:
    data_dir = tmp_path / "d"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    key = key_for_tester(make_settings(data_dir, database_url))
    server = _serve(data_dir, database_url, tiny_model, port)
    load = None
    downtimes: list[float] = []
    try:
        wait_until(lambda: _live(url), 120)
        load = Load(url, key)
        for how in (signal.SIGTERM, signal.SIGKILL):
            time.sleep(LOAD_SECONDS)
            server.send_signal(how)
            server.wait(60)
            stopped = time.monotonic()
            server = _serve(data_dir, database_url, tiny_model, port)
            wait_until(lambda: _live(url), 120)
            downtimes.append(time.monotonic() - stopped)
        time.sleep(LOAD_SECONDS)
        load.stop()
    finally:
        if load is not None:
            load.running.clear()
        server.terminate()
        server.wait(60)
    db = Database(database_url)
    try:
        with db.read() as session:
            stored = dict(
                session.execute(
                    select(Task.idempotency_key, Task.id).where(Task.idempotency_key.in_(list(load.accepted)))
                ).all()
            )
            total = session.scalar(select(func.count()).select_from(Task))
    finally:
        db.dispose()
    lost = [k for k, task_id in load.accepted.items() if stored.get(k) != task_id]
    duplicated = int(total or 0) - len(load.accepted)
    print(
        f"\nserve restarts [{database_url.split(':', 1)[0]}]: SIGTERM + SIGKILL under load, "
        f"{len(load.accepted)} creates accepted, {load.retries} retries, {len(lost)} lost, {duplicated} duplicated, "
        f"down {', '.join(f'{d:.1f} s' for d in downtimes)} (restart to first answer)"
    )
    assert len(load.accepted) > 10
    assert lost == [] and duplicated == 0

"""On SQLite a create runs on the event loop only when the write lock is free at once: while another
writer holds it, the create waits without holding up other requests, and completes once the lock is
free, whether that takes a moment or longer than the loop's patience (then a thread waits for it)."""

from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy.engine import make_url

from aceserve.api.reads import CREATE_PATIENCE
from tests.api.server import RunningServer

BODY = {"model": "Qubico/ace-step", "task_type": "txt2audio", "input": {"style_prompt": "rock"}}


@pytest.mark.parametrize("hold_seconds", [0.3, CREATE_PATIENCE + 0.5], ids=["moment", "past-patience"])
def test_a_create_waits_for_another_writer_while_the_server_answers_others(
    live_server: RunningServer, hold_seconds: float
) -> None:
    if live_server.settings.database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's creates run on threads, each account's under its own row lock")
    path = make_url(live_server.settings.database_url).database
    assert path is not None
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)  # as another process would
    other.execute("BEGIN IMMEDIATE")
    released = threading.Event()

    def release_later() -> None:
        time.sleep(hold_seconds)
        released.set()
        other.execute("COMMIT")

    with ThreadPoolExecutor(2) as pool:
        releaser = pool.submit(release_later)
        started = time.monotonic()
        creating = pool.submit(live_server.client.post, "/api/v1/task", json=BODY)
        time.sleep(0.05)
        health = live_server.client.get("/health/live")  # the event loop is free while the create waits
        assert health.status_code == 200 and not released.is_set()
        created = creating.result(timeout=30)
        releaser.result(timeout=30)
    assert created.status_code == 200, created.text
    assert time.monotonic() - started >= hold_seconds
    task_id = created.json()["data"]["task_id"]
    assert live_server.client.get(f"/api/v1/task/{task_id}").json()["data"]["status"] == "pending"
    other.close()

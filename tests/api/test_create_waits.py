"""On SQLite a create runs on the event loop only when the write lock is free at once: while another
writer holds it, the create waits without holding up other requests, and completes once the lock is
free, whether that takes a moment or longer than the loop's patience (then a thread waits for it)."""

from __future__ import annotations

import asyncio
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


def test_only_a_quick_create_is_tried_on_the_event_loop() -> None:
    """A create with audio or a webhook event is more than a short transaction: it goes to a thread at
    once, never through the event loop's pauses; a quick one that finds the lock free runs once, inline."""
    from aceserve.api.reads import Creates
    from aceserve.domain.inputs import parse_create_request
    from aceserve.store.db import WriterBusy

    calls: list[tuple[str, bool]] = []

    def create(name: str, *, wait: bool = True) -> str:
        calls.append((name, wait))
        if not wait and name == "busy":
            raise WriterBusy("held")
        return name

    async def run_all() -> None:
        creates = Creates(inline=True, patience=0.01)
        assert await creates.run(create, "quick", quick=True) == "quick"
        assert await creates.run(create, "webhook", quick=False) == "webhook"
        assert await creates.run(create, "busy", quick=True) == "busy"

    asyncio.run(run_all())
    assert calls[:2] == [("quick", False), ("webhook", True)]
    busy = [wait for name, wait in calls if name == "busy"]
    assert busy[-1] is True and set(busy[:-1]) == {False} and len(busy) >= 2  # tried, paused, then a thread

    hook = {"webhook_config": {"endpoint": "https://example.com/hook", "secret": ""}}
    assert parse_create_request(BODY, max_inline_audio_bytes=1000).quick
    assert not parse_create_request({**BODY, "config": hook}, max_inline_audio_bytes=1000).quick
    extend = {
        "model": "Qubico/ace-step",
        "task_type": "extend",
        "input": {"audio": "https://example.com/a.mp3", "style_prompt": "rock"},
    }
    assert not parse_create_request(extend, max_inline_audio_bytes=1000).quick

"""GET /api/v1/task/{id}/events on a real socket: every change of status, progress and queue position as
the task object GET returns, the end, reconnects, keep-alives, the per-key cap and hang-ups. The changes
are made by the store's own queue functions, as a worker makes them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aceserve.store import queue
from aceserve.store.db import Database
from tests.api.server import RunningServer, make_settings, running_server
from tests.sse import EventReader

TXT = {"model": "Qubico/ace-step", "task_type": "txt2audio", "input": {"style_prompt": "rain", "duration": 10}}


@pytest.fixture
def events_server(tmp_path: Path, database_url: str) -> Iterator[RunningServer]:
    settings = make_settings(
        tmp_path / "data",
        database_url,
        workers=0,
        events_keepalive_seconds=0.3,
        events_max_streams_per_key=2,
    )
    with running_server(settings) as server:
        yield server


@pytest.fixture
def db(events_server: RunningServer) -> Iterator[Database]:
    database = Database(events_server.settings.database_url)
    yield database
    database.dispose()


def create(server: RunningServer) -> str:
    task_id: str = server.client.post("/api/v1/task", json=TXT).json()["data"]["task_id"]
    return task_id


def follow(server: RunningServer, task_id: str, key: str | None = None, **headers: str) -> EventReader:
    return EventReader(f"{server.url}/api/v1/task/{task_id}/events", {"x-api-key": key or server.key, **headers})


def claim_one(db: Database) -> queue.Lease:
    (lease,) = queue.claim(db, owner="test-worker", lease_seconds=60)
    return lease


def test_a_stream_sends_each_change_as_get_renders_it_then_the_end(events_server: RunningServer, db: Database) -> None:
    task_id = create(events_server)
    reader = follow(events_server, task_id)
    assert reader.status == 200 and reader.response_headers["content-type"].startswith("text/event-stream")
    first = reader.next()
    assert first is not None and first.name == "task"
    assert first.task == events_server.client.get(f"/api/v1/task/{task_id}").json()["data"]
    assert first.task["meta"]["queue_position"] == 1

    lease = claim_one(db)
    running = reader.next()
    assert (
        running is not None and running.task["status"] == "processing" and "queue_position" not in running.task["meta"]
    )

    queue.heartbeat(db, lease, lease_seconds=60)  # only the lease moves: nothing to tell
    queue.heartbeat(db, lease, lease_seconds=60, progress=0.5)
    halfway = reader.next()
    assert halfway is not None and halfway.task["meta"]["progress"] == 0.5 and halfway.id != running.id

    queue.fail(db, lease, message="the input could not be decoded", retryable=False, max_attempts=1)
    end = reader.next()
    assert end is not None and end.name == "end"
    assert end.task["status"] == "failed" and end.task["error"]["message"] == "the input could not be decoded"
    assert end.task == events_server.client.get(f"/api/v1/task/{task_id}").json()["data"]
    assert reader.next() is None  # the stream closed itself
    reader.close()


def test_a_pending_task_hears_its_queue_position_move(events_server: RunningServer, db: Database) -> None:
    create(events_server)
    second = create(events_server)
    reader = follow(events_server, second)
    waiting = reader.next()
    assert waiting is not None and waiting.task["meta"]["queue_position"] == 2
    claim_one(db)  # the task ahead is taken by a worker
    moved = reader.next()
    assert moved is not None and moved.task["status"] == "pending" and moved.task["meta"]["queue_position"] == 1
    reader.close()


def test_an_idle_stream_sends_keep_alives(events_server: RunningServer) -> None:
    reader = follow(events_server, create(events_server))
    assert reader.next() is not None
    comment = reader.next(timeout=5, skip_comments=False)
    assert comment is not None and comment.comment == "keep-alive"
    reader.close()


def test_reconnecting_with_last_event_id_sends_only_what_is_new(events_server: RunningServer, db: Database) -> None:
    task_id = create(events_server)
    reader = follow(events_server, task_id)
    seen = reader.next()
    assert seen is not None and seen.id
    reader.close()

    again = follow(events_server, task_id, **{"Last-Event-ID": seen.id})
    comment = again.next(timeout=5, skip_comments=False)
    assert comment is not None and comment.name == "comment"  # not the state it already had
    lease = claim_one(db)
    fresh = again.next()
    assert fresh is not None and fresh.task["status"] == "processing"
    queue.fail(db, lease, message="stopped", retryable=False, max_attempts=1)
    end = again.next()
    assert end is not None and end.name == "end" and end.id
    again.close()

    finished = follow(events_server, task_id, **{"Last-Event-ID": end.id})
    assert finished.status == 204  # EventSource stops reconnecting on 204
    assert finished.next() is None
    late = follow(events_server, task_id)  # a new client still gets the end
    last = late.next()
    assert last is not None and last.name == "end" and late.next() is None


def test_streams_need_the_owners_key(events_server: RunningServer) -> None:
    task_id = create(events_server)
    wrong = follow(events_server, task_id, key="not-a-key")
    assert wrong.status == 401 and b"Invalid API key" in wrong.body
    stranger = follow(events_server, task_id, key=events_server.new_key("stranger"))
    assert stranger.status == 404 and task_id.encode() in stranger.body
    missing = follow(events_server, "00000000-0000-4000-8000-000000000000")
    assert missing.status == 404


def test_open_streams_are_capped_per_key_and_freed_on_hang_up(events_server: RunningServer) -> None:
    task_id = create(events_server)
    readers = [follow(events_server, task_id) for _ in range(2)]
    refused = follow(events_server, task_id)
    assert refused.status == 429 and refused.response_headers["retry-after"]
    assert b"open task event streams" in refused.body
    other = follow(events_server, task_id, key=events_server.new_key("tester"))  # another key of the account
    assert other.status == 200
    other.close()

    readers[0].close()  # hang up: the server notices and frees the slot
    deadline = time.monotonic() + 10
    while (retry := follow(events_server, task_id)).status == 429:
        assert time.monotonic() < deadline, "a closed stream still counts against the key"
        time.sleep(0.1)
    retry.close()
    readers[1].close()
    streams = events_server.app.state.services.open_streams
    deadline = time.monotonic() + 10
    while streams.count(events_server.key) or streams.count(events_server.key):
        assert time.monotonic() < deadline, "streams still counted after every client hung up"
        time.sleep(0.1)

"""One account cannot fill the queue for all: claims are fair across accounts (each account's oldest
task first), and a per-account cap on waiting tasks answers 429 for that account alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aceserve.store import queue
from aceserve.store.db import Database
from aceserve.store.fairness import fair_position
from tests.api.server import RunningServer, make_settings, serving
from tests.store.helpers import make_account, make_task


def test_a_backlog_of_one_account_does_not_delay_another_accounts_task(database: Database) -> None:
    busy, other = make_account(database, "busy"), make_account(database, "other")
    backlog = [make_task(database, busy).id for _ in range(30)]
    single = make_task(database, other).id
    with database.read() as session:
        assert fair_position(session, single) == 2
        assert fair_position(session, backlog[1]) == 3
    order = [queue.claim(database, owner="w", lease_seconds=60)[0].task_id for _ in range(3)]
    assert order == [backlog[0], single, backlog[1]]


def test_batch_mates_are_taken_in_fair_order(database: Database) -> None:
    busy, other = make_account(database, "busy"), make_account(database, "other")
    backlog = [make_task(database, busy, hint="h").id for _ in range(5)]
    single = make_task(database, other, hint="h").id
    leases = queue.claim(database, owner="w", lease_seconds=60, max_batch=3)
    assert [lease.task_id for lease in leases] == [backlog[0], single, backlog[1]]


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[RunningServer]:
    with serving(make_settings(tmp_path / "d", database_url, workers=0, max_queued_per_account=2)) as running:
        yield running


def test_an_account_over_its_queue_cap_gets_429_while_others_still_create(server: RunningServer) -> None:
    body = {"model": "Qubico/ace-step", "task_type": "txt2audio", "input": {"style_prompt": "x", "duration": 10}}
    assert [server.client.post("/api/v1/task", json=body).status_code for _ in range(2)] == [200, 200]
    refused = server.client.post("/api/v1/task", json=body)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert "max_queued_per_account" in refused.json()["message"]
    with server.as_key(server.new_key("someone-else")) as other:
        assert other.post("/api/v1/task", json=body).status_code == 200


@pytest.fixture
def open_server(tmp_path: Path, database_url: str) -> Iterator[RunningServer]:
    with serving(make_settings(tmp_path / "d", database_url, workers=0)) as running:
        yield running


def test_get_reports_the_position_workers_claim_in(open_server: RunningServer) -> None:
    """A pending task's ``queue_position`` is its place in the fair claim order, not in creation order:
    the single task of a second account comes right after the first account's oldest."""
    body = {"model": "Qubico/ace-step", "task_type": "txt2audio", "input": {"style_prompt": "x", "duration": 10}}
    backlog = [open_server.client.post("/api/v1/task", json=body).json()["data"]["task_id"] for _ in range(4)]
    with open_server.as_key(open_server.new_key("second")) as second:
        single = second.post("/api/v1/task", json=body).json()["data"]["task_id"]

        def position(task_id: str) -> int | None:
            client = second if task_id == single else open_server.client
            meta: dict[str, int] = client.get(f"/api/v1/task/{task_id}").json()["data"]["meta"]
            return meta.get("queue_position")

        assert [position(t) for t in [backlog[0], single, *backlog[1:]]] == [1, 2, 3, 4, 5]
        db = Database(open_server.settings.database_url)
        try:
            (lease,) = queue.claim(db, owner="w", lease_seconds=60)
            assert lease.task_id == backlog[0]
            # the first account now has a task running: its next one waits behind the second account's
            assert [position(t) for t in [single, *backlog[1:]]] == [1, 2, 3, 4]
            with db.read() as session:
                assert [fair_position(session, t) for t in [single, *backlog[1:]]] == [1, 2, 3, 4]
            assert position(backlog[0]) is None
        finally:
            db.dispose()

"""Health that tells the truth: an idle worker stays ready, a silent one is gone and then forgotten,
and /health/live and /health/ready answer as a Kubernetes probe expects."""

from __future__ import annotations

import time
from pathlib import Path

from aceserve.domain.states import WorkerState
from aceserve.store.db import Database
from aceserve.store.workers import forget, list_workers, report, worker_views
from tests.api.server import make_settings, serving
from tests.e2e.conftest import serve_with_worker


def test_an_idle_worker_stays_ready_across_many_heartbeats(tmp_path: Path, database_url: str, tiny_model: Path) -> None:
    # Gone after 2 s of silence (ten heartbeats: slack for a loaded machine); watched for three times that.
    with serve_with_worker(
        tmp_path / "d", database_url, tiny_model, heartbeat_seconds=0.2, worker_gone_seconds=2.0
    ) as server:
        deadline = time.monotonic() + 120
        while server.client.get("/health/ready").status_code != 200:
            assert time.monotonic() < deadline, server.client.get("/health/ready").json()
            time.sleep(0.05)
        first_seen = server.client.get("/health").json()["data"]["workers"][0]["last_seen"]
        # Thirty heartbeat periods, three times the gone threshold, with no task at all.
        for _ in range(30):
            time.sleep(0.2)
            ready = server.client.get("/health/ready")
            assert ready.status_code == 200, ready.json()
            assert ready.json()["data"]["workers_serving"] == 1
            body = server.client.get("/health").json()["data"]
            assert body["ready"] is True and [w["state"] for w in body["workers"]] == ["ready"]
        assert body["workers"][0]["last_seen"] > first_seen  # the idle worker kept writing


def test_a_silent_worker_is_gone_not_counted_and_then_forgotten(tmp_path: Path, database_url: str) -> None:
    db = Database(database_url)
    try:
        report(db, "host:1:cpu:1", state=WorkerState.READY, device="cpu", model="tiny")
        report(db, "host:2:cpu:1", state=WorkerState.FAILED, device="cpu", model="tiny", detail="no weights")
        (ready, failed) = worker_views(db, gone_after=0.3, forget_after=60)
        assert (ready.presence, ready.serving, failed.presence, failed.serving) == ("ready", True, "failed", False)
        time.sleep(0.4)
        (ready, failed) = worker_views(db, gone_after=0.3, forget_after=60)
        assert (ready.presence, ready.serving, failed.presence) == ("gone", False, "failed")
        assert worker_views(db, gone_after=0.3, forget_after=0.35) == []  # no longer shown ...
        assert forget(db, older_than=0.35) == 2  # ... and deleted
        assert list_workers(db) == []
    finally:
        db.dispose()


def test_ready_needs_a_live_worker_where_workers_are_expected(tmp_path: Path, database_url: str) -> None:
    expecting = make_settings(
        tmp_path / "a", database_url, ready_requires_worker=True, worker_gone_seconds=0.3, heartbeat_seconds=0.1
    )
    with serving(expecting) as server:
        assert server.client.get("/health/live").json() == {"code": 200, "data": {"status": "ok"}, "message": "success"}
        answer = server.client.get("/health/ready")
        assert (
            answer.status_code == 503 and "No live worker is ready or busy (workers: none)" in answer.json()["message"]
        )
        db = Database(database_url)
        report(db, "host:9:cpu:1", state=WorkerState.READY, device="cpu", model="tiny")
        assert server.client.get("/health/ready").status_code == 200
        time.sleep(0.4)  # the worker falls silent
        answer = server.client.get("/health/ready")
        assert answer.status_code == 503 and "host:9:cpu:1 gone" in answer.json()["message"]
        assert server.client.get("/health").json()["data"]["ready"] is False
        db.dispose()
    # An API process alone (workers elsewhere) is ready when its database answers.
    with serving(make_settings(tmp_path / "b", database_url)) as server:
        answer = server.client.get("/health/ready")
        assert answer.status_code == 200 and answer.json()["data"]["status"] == "ready"

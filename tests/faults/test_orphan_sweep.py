"""A worker killed between writing its output and committing it leaves bytes no record names; the task
is re-run by another worker, and the janitor removes the orphan once its grace period has passed (and
not before), leaving the recorded output alone.

The kill is placed exactly: the test holds the task's account row locked (PostgreSQL ``FOR UPDATE``),
which the completing transaction locks first, so the worker has written its file and waits at the
commit when it is killed. SQLite locks the whole database for a write, which would also stop the
worker's progress writes, so this scenario runs on PostgreSQL."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from aceserve.storage import open_storage
from aceserve.store.clock import utcnow
from aceserve.store.db import Database
from aceserve.store.models import StoredFile, Task
from aceserve.worker.janitor import sweep_orphans
from tests.api.server import make_settings, running_server
from tests.faults.processes import Zygote, audit, wait_until


def test_an_output_orphaned_by_a_kill_before_commit_is_swept_after_its_grace(
    tmp_path: Path, database_url: str, zygote: Zygote
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("placing the kill between write and commit needs a row lock (PostgreSQL)")
    data_dir = tmp_path / "d"
    settings = make_settings(data_dir, database_url, workers=0)
    storage = open_storage("", files_dir=settings.files_dir, s3_endpoint_url="")
    db = Database(database_url)
    lock = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with running_server(settings) as server:
            body = {
                "model": "Qubico/ace-step",
                "task_type": "txt2audio",
                "input": {"style_prompt": "x", "duration": 10},
            }
            task_id = server.client.post("/api/v1/task", json=body).json()["data"]["task_id"]
            with db.read() as session:
                account_id = session.scalar(select(Task.account_id).where(Task.id == task_id))

            def started() -> bool:
                with db.read() as session:
                    task = session.get(Task, task_id)
                    return task is not None and task.status == "processing" and task.seed is not None

            def stored() -> list[str]:
                return list(storage.list_keys(older_than=utcnow() + timedelta(seconds=5)))

            doomed = zygote.fork(database_url, data_dir, server.url)
            with lock.connect() as conn:
                try:
                    wait_until(started, 120, interval=0.01)
                    conn.execute(sa.text("SELECT id FROM accounts WHERE id = :id FOR UPDATE"), {"id": account_id})
                    wait_until(lambda: len(stored()) == 1, 120)
                    time.sleep(0.5)  # the worker now waits for the account row, its file written
                finally:
                    zygote.kill(doomed)
                    conn.rollback()
            (orphan,) = stored()
            survivor = zygote.fork(database_url, data_dir, server.url)
            try:
                wait_until(
                    lambda: server.client.get(f"/api/v1/task/{task_id}").json()["data"]["status"] == "completed", 120
                )
            finally:
                zygote.stop(survivor)
        result = audit(database_url, [task_id])
        assert result.outputs[task_id] == 1 and result.consumes[task_id] == 1 and result.attempts[task_id] == 2
        with db.read() as session:
            recorded = set(session.scalars(select(StoredFile.storage_key)))
        assert orphan not in recorded
        assert sweep_orphans(db, storage, grace=timedelta(hours=1)) == 0  # still within its grace
        assert orphan in stored()
        assert sweep_orphans(db, storage, grace=timedelta(0)) == 1
        left = set(stored())
        assert orphan not in left and left <= recorded and left
        print(f"\norphan sweep: kill between write and commit left {orphan}; re-run completed; swept after grace")
    finally:
        lock.dispose()
        db.dispose()

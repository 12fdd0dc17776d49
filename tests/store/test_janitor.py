from __future__ import annotations

import logging
import os
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from aceserve.domain.states import DeliveryState
from aceserve.storage import LocalFileStorage
from aceserve.store.clock import utcnow
from aceserve.store.db import Database
from aceserve.store.files import get_live_file, new_file_record, put_file
from aceserve.store.models import StoredFile, WebhookDelivery
from aceserve.store.outbox import prune_finished
from aceserve.worker.janitor import sweep, sweep_orphans
from tests.store.helpers import make_account, make_task


def _age(storage: LocalFileStorage, key: str, age: timedelta) -> None:
    moment = (utcnow() - age).timestamp()
    os.utime(storage.root / key, (moment, moment))


def _record(storage: LocalFileStorage, db: Database, *, kind: str = "output", ext: str = "mp3") -> StoredFile:
    record = put_file(storage, b"abc", kind=kind, ext=ext, retention_hours=72, account_id=None)
    with db.write() as session:
        session.add(record)
    return record


def test_expired_files_are_deleted_and_live_ones_kept(database: Database, tmp_path: Path) -> None:
    storage = LocalFileStorage(tmp_path / "files")
    old = new_file_record(
        kind="upload", ext="wav", content_type="audio/wav", size=3, retention_hours=1, account_id=None
    )
    old.expires_at = utcnow() - timedelta(seconds=1)
    fresh = new_file_record(
        kind="output", ext="mp3", content_type="audio/mpeg", size=3, retention_hours=1, account_id=None
    )
    for record in (old, fresh):
        storage.put(record.storage_key, b"abc", record.content_type)
    with database.write() as session:
        session.add_all([old, fresh])
    assert sweep(database, storage) == 1
    assert not storage.exists(old.storage_key) and storage.exists(fresh.storage_key)
    with database.read() as session:
        assert get_live_file(session, fresh.id, "mp3") is not None


def test_old_orphans_are_deleted_recorded_and_fresh_files_kept(
    database: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    storage = LocalFileStorage(tmp_path / "files")
    recorded = _record(storage, database)
    storage.put("outputs/orphan.mp3", b"crashed before its row", "audio/mpeg")
    storage.put("uploads/fresh-orphan.wav", b"row about to be committed", "audio/wav")
    _age(storage, recorded.storage_key, timedelta(hours=5))
    _age(storage, "outputs/orphan.mp3", timedelta(hours=1, minutes=1))
    _age(storage, "uploads/fresh-orphan.wav", timedelta(minutes=59))

    with caplog.at_level(logging.INFO, logger="aceserve.janitor"):
        assert sweep_orphans(database, storage, grace=timedelta(hours=1)) == 1
    assert not storage.exists("outputs/orphan.mp3")
    assert storage.exists(recorded.storage_key)
    assert storage.exists("uploads/fresh-orphan.wav")
    assert "outputs/orphan.mp3" in caplog.text
    with database.read() as session:
        assert get_live_file(session, recorded.id, "mp3") is not None
    assert sweep_orphans(database, storage) == 0  # the default grace is an hour too


def test_orphans_are_checked_in_batches(database: Database, tmp_path: Path) -> None:
    storage = LocalFileStorage(tmp_path / "files")
    recorded = [_record(storage, database) for _ in range(4)]
    orphans = [f"outputs/orphan{i}.mp3" for i in range(5)]
    for key in orphans:
        storage.put(key, b"x", "audio/mpeg")
    for key in [*orphans, *(record.storage_key for record in recorded)]:
        _age(storage, key, timedelta(days=1))
    assert sweep_orphans(database, storage, batch_size=2) == 5
    assert sorted(storage.list_keys(older_than=utcnow())) == sorted(record.storage_key for record in recorded)


def test_sweep_counts_expired_files_and_orphans(database: Database, tmp_path: Path) -> None:
    storage = LocalFileStorage(tmp_path / "files")
    expired = _record(storage, database, kind="upload", ext="wav")
    with database.write() as session:
        row = session.get(StoredFile, expired.id)
        assert row is not None
        row.expires_at = utcnow() - timedelta(seconds=1)
    kept = _record(storage, database)
    storage.put("outputs/orphan.mp3", b"x", "audio/mpeg")
    for key in (expired.storage_key, kept.storage_key, "outputs/orphan.mp3"):
        _age(storage, key, timedelta(hours=2))
    assert sweep(database, storage) == 2
    assert sorted(storage.list_keys(older_than=utcnow())) == [kept.storage_key]
    with database.read() as session:
        assert session.get(StoredFile, expired.id) is None


def test_a_negative_grace_is_refused(database: Database, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="grace"):
        sweep_orphans(database, LocalFileStorage(tmp_path), grace=timedelta(seconds=-1))


def _event_states(db: Database) -> dict[str, str]:
    with db.read() as session:
        return {row.id: row.state for row in session.scalars(select(WebhookDelivery))}


def test_finished_webhook_events_past_retention_are_deleted_and_the_rest_kept(
    database: Database, tmp_path: Path
) -> None:
    account = make_account(database)
    for _ in range(7):  # each create writes its "pending" event to the outbox
        make_task(database, account, webhook="https://hooks.example/aceserve")
    with database.write() as session:
        rows = list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))
        assert len(rows) == 7
        week_ago = utcnow() - timedelta(days=8)
        plan = [
            (DeliveryState.DELIVERED, week_ago),
            (DeliveryState.DELIVERED, week_ago),
            (DeliveryState.DEAD, week_ago),
            (DeliveryState.DELIVERED, week_ago),
            (DeliveryState.PENDING, week_ago),  # still owed: kept whatever its age
            (DeliveryState.DELIVERED, utcnow()),  # inside the retention: kept
            (DeliveryState.DEAD, utcnow()),
        ]
        for row, (state, created_at) in zip(rows, plan, strict=True):
            row.state, row.created_at = state, created_at
        kept = {row.id for row, (state, created_at) in zip(rows, plan, strict=True) if created_at != week_ago}
        kept |= {rows[4].id}
    storage = LocalFileStorage(tmp_path / "files")
    assert sweep(database, storage, webhook_retention=timedelta(days=7)) == 4
    assert set(_event_states(database)) == kept
    assert sweep(database, storage, webhook_retention=timedelta(days=7)) == 0


def test_pruning_works_through_batches(database: Database) -> None:
    account = make_account(database)
    for _ in range(5):
        make_task(database, account, webhook="https://hooks.example/aceserve")
    with database.write() as session:
        for row in session.scalars(select(WebhookDelivery)):
            row.state, row.created_at = DeliveryState.DELIVERED, utcnow() - timedelta(hours=2)
    assert prune_finished(database, created_before=utcnow() - timedelta(hours=1), batch=2) == 5
    assert _event_states(database) == {}

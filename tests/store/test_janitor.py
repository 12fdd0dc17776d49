from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from aceserve.storage import LocalFileStorage
from aceserve.store.clock import utcnow
from aceserve.store.db import Database
from aceserve.store.files import get_live_file, new_file_record
from aceserve.worker.janitor import sweep


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

"""Deletes files past their retention (outputs 3 days, uploads 24 h by default)."""

from __future__ import annotations

import logging

from aceserve.storage import FileStorage
from aceserve.store.db import Database
from aceserve.store.files import expired_files
from aceserve.store.models import StoredFile

log = logging.getLogger("aceserve.janitor")


def sweep(db: Database, storage: FileStorage) -> int:
    """Delete expired files' bytes, then their records. Returns how many were removed."""
    removed = 0
    while True:
        with db.read() as session:
            batch = expired_files(session)
        if not batch:
            return removed
        for record in batch:
            storage.delete(record.storage_key)
        with db.write() as session:
            for record in batch:
                row = session.get(StoredFile, record.id)
                if row is not None:
                    session.delete(row)
        removed += len(batch)
        log.info("janitor removed %d expired file(s)", len(batch))

"""Deletes files past their retention (outputs 3 days, uploads 24 h by default), orphaned bytes, and
finished webhook events past theirs (7 days by default), so neither storage nor the outbox grows forever.

Bytes are stored before their ``files`` row is committed (``store.files.put_file``), so a crash in
between leaves bytes no row points to. :func:`sweep_orphans` deletes those once they are older than
a grace period, which protects bytes whose row is still about to be committed.
"""

from __future__ import annotations

import itertools
import logging
from datetime import timedelta

from aceserve.storage import FileStorage
from aceserve.store.clock import utcnow
from aceserve.store.db import Database
from aceserve.store.files import delete_records, known_storage_keys, read_expired
from aceserve.store.outbox import prune_finished

log = logging.getLogger("aceserve.janitor")

ORPHAN_GRACE = timedelta(hours=1)
ORPHAN_BATCH = 500  # keys per lookup: under SQLite's 999 bound parameters


def sweep(db: Database, storage: FileStorage, *, webhook_retention: timedelta | None = None) -> int:
    """Delete expired files (bytes, then records), then orphaned bytes, then (given ``webhook_retention``)
    finished webhook events older than it. Returns how many files and events were removed."""
    removed = sweep_expired(db, storage) + sweep_orphans(db, storage)
    if webhook_retention is not None:
        removed += sweep_webhook_events(db, webhook_retention)
    return removed


def sweep_webhook_events(db: Database, retention: timedelta) -> int:
    """Delete delivered and given-up webhook events created more than ``retention`` ago."""
    removed = prune_finished(db, created_before=utcnow() - retention)
    if removed:
        log.info("janitor removed %d finished webhook event(s) older than %s", removed, retention)
    return removed


def sweep_expired(db: Database, storage: FileStorage) -> int:
    """Delete expired files' bytes, then their records. Returns how many were removed."""
    removed = 0
    while True:
        batch = read_expired(db)
        if not batch:
            return removed
        for record in batch:
            storage.delete(record.storage_key)
        delete_records(db, [record.id for record in batch])
        removed += len(batch)
        log.info("janitor removed %d expired file(s)", len(batch))


def sweep_orphans(
    db: Database, storage: FileStorage, *, grace: timedelta = ORPHAN_GRACE, batch_size: int = ORPHAN_BATCH
) -> int:
    """Delete stored keys older than ``grace`` that no ``files`` row names. Returns how many were removed.

    ``grace`` must exceed the longest time between storing bytes and committing their row, plus any
    clock skew between this machine and the store (S3 stamps ``LastModified`` with its own clock).
    Lists the whole store, checking ``batch_size`` keys per query.
    """
    if grace < timedelta(0):
        raise ValueError(f"grace must not be negative, got {grace}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    keys = storage.list_keys(older_than=utcnow() - grace)
    removed = 0
    while batch := list(itertools.islice(keys, batch_size)):
        known = known_storage_keys(db, batch)
        orphans = [key for key in batch if key not in known]
        for key in orphans:
            storage.delete(key)
            log.info("janitor removed orphaned file %s (stored over %s ago, no record)", key, grace)
        removed += len(orphans)
    if removed:
        log.info("janitor removed %d orphaned file(s)", removed)
    return removed

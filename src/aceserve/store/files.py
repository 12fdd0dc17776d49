"""Records of stored files (outputs, uploads, inline inputs); the bytes live in ``aceserve.storage``."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from aceserve.media import CONTENT_TYPES
from aceserve.storage import FileStorage
from aceserve.store.clock import opaque_id, utcnow
from aceserve.store.db import Database
from aceserve.store.models import StoredFile

FILE_ROUTE = "/files/"


def new_file_record(
    *,
    kind: str,
    ext: str,
    content_type: str,
    size: int,
    retention_hours: float,
    account_id: str | None,
    task_id: str | None = None,
    seconds: float | None = None,
) -> StoredFile:
    """A record for bytes about to be stored under ``storage_key``; not yet added to a session.
    ``seconds`` is the audio's length when known (a task that takes the file as input needs it)."""
    file_id = opaque_id(18)
    now = utcnow()
    return StoredFile(
        id=file_id,
        account_id=account_id,
        task_id=task_id,
        kind=kind,
        ext=ext,
        content_type=content_type,
        size=size,
        storage_key=f"{kind}s/{file_id}.{ext}",
        seconds=seconds,
        created_at=now,
        expires_at=now + timedelta(hours=retention_hours),
    )


def put_file(
    storage: FileStorage,
    data: bytes,
    *,
    kind: str,
    ext: str,
    retention_hours: float,
    account_id: str | None,
    task_id: str | None = None,
    seconds: float | None = None,
) -> StoredFile:
    """Write the bytes to storage and return their record, for the caller to add in its transaction
    (and to delete again with ``storage.delete(record.storage_key)`` if that transaction fails)."""
    record = new_file_record(
        kind=kind,
        ext=ext,
        content_type=CONTENT_TYPES.get(ext, "application/octet-stream"),
        size=len(data),
        retention_hours=retention_hours,
        account_id=account_id,
        task_id=task_id,
        seconds=seconds,
    )
    storage.put(record.storage_key, data, record.content_type)
    return record


def file_path(record: StoredFile) -> str:
    """The server-relative URL path of a file: opaque, no server paths."""
    return f"{FILE_ROUTE}{record.id}.{record.ext}"


def parse_file_path(path: str) -> tuple[str, str] | None:
    """(file id, ext) from ``/files/<id>.<ext>``, or None."""
    if not path.startswith(FILE_ROUTE):
        return None
    name = path[len(FILE_ROUTE) :]
    file_id, dot, ext = name.rpartition(".")
    if not dot or not file_id or "/" in name:
        return None
    return file_id, ext


def own_file_ref(url_or_path: str, public_url: str) -> tuple[str, str] | None:
    """(id, ext) when ``url_or_path`` names one of this server's files (an output, upload or stored
    input): its path, or its URL on ``public_url``'s origin under its path prefix, without a query."""
    if url_or_path.startswith(FILE_ROUTE):
        return parse_file_path(url_or_path)
    own = urlsplit(public_url)
    prefix = own.path.rstrip("/")  # behind a proxy the API may live under a path
    parts = urlsplit(url_or_path)
    if (parts.scheme, parts.netloc.lower()) != (own.scheme, own.netloc.lower()) or parts.query:
        return None
    if not parts.path.startswith(prefix + "/"):
        return None
    return parse_file_path(parts.path[len(prefix) :])


def get_live_file(session: Session, file_id: str, ext: str) -> StoredFile | None:
    """The file, unless missing or expired. An id that no file could have (a client's NUL, which
    PostgreSQL refuses in a query) is simply missing."""
    if not _OPAQUE_ID.fullmatch(file_id):
        return None
    record = session.get(StoredFile, file_id)
    if record is None or record.ext != ext.lower() or record.expires_at <= utcnow():
        return None
    return record


_OPAQUE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def expired_files(session: Session, *, limit: int = 500) -> list[StoredFile]:
    return list(
        session.scalars(
            select(StoredFile).where(StoredFile.expires_at <= utcnow()).order_by(StoredFile.expires_at).limit(limit)
        ).all()
    )


def add_file(db: Database, record: StoredFile) -> None:
    """Commit the record of bytes already stored (an upload)."""
    with db.write() as session:
        session.add(record)


def delete_records(db: Database, file_ids: Iterable[str]) -> None:
    """Delete these files' records (their bytes are already gone)."""
    with db.write() as session:
        for file_id in file_ids:
            row = session.get(StoredFile, file_id)
            if row is not None:
                session.delete(row)


def known_storage_keys(db: Database, keys: list[str]) -> set[str]:
    """Which of ``keys`` a file record names."""
    with db.read() as session:
        return set(session.scalars(select(StoredFile.storage_key).where(StoredFile.storage_key.in_(keys))))


def read_expired(db: Database, *, limit: int = 500) -> list[StoredFile]:
    with db.read() as session:
        return expired_files(session, limit=limit)

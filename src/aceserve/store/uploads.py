"""Storing an upload (``POST /api/ephemeral_resource``) and probing audio a request carries."""

from __future__ import annotations

from aceserve.domain.errors import InvalidInput, TaskInputError
from aceserve.domain.uploads import Upload
from aceserve.media import sniff_audio_type
from aceserve.media.probing import AudioProber
from aceserve.storage import FileStorage
from aceserve.store.db import Database
from aceserve.store.files import add_file, file_path, put_file


def probe_audio(prober: AudioProber, data: bytes, field: str, *, max_seconds: float) -> float:
    """Seconds of audio in ``data``; a 400 naming ``field`` when it is not audio or is too long."""
    try:
        return prober.probe(data, field=field, max_seconds=max_seconds)
    except TaskInputError as exc:
        rule = str(exc).removeprefix(f"`{field}` ")
        raise InvalidInput(field, rule) from None


def save_upload(
    db: Database,
    storage: FileStorage,
    account_id: str,
    upload: Upload,
    *,
    prober: AudioProber,
    retention_hours: float,
    max_seconds: float,
) -> str:
    """Check that the bytes are audio of the named type, store them with their record, and return
    the file's path (``/files/<id>.<ext>``)."""
    sniffed = sniff_audio_type(upload.data)
    if sniffed != upload.ext:
        found = f"{sniffed} audio" if sniffed else "not a recognised audio format"
        raise InvalidInput("file_data", f"content is {found}, which does not match the .{upload.ext} extension")
    seconds = probe_audio(prober, upload.data, "file_data", max_seconds=max_seconds)
    record = put_file(
        storage,
        upload.data,
        kind="upload",
        ext=upload.ext,
        retention_hours=retention_hours,
        account_id=account_id,
        seconds=seconds,
    )
    try:
        add_file(db, record)
    except BaseException:
        storage.delete(record.storage_key)
        raise
    return file_path(record)

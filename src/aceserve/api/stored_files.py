"""Storing request-supplied audio (inline base64 inputs, uploads) before the task row commits."""

from __future__ import annotations

from aceserve.api.deps import Services
from aceserve.domain.inputs import CreateTaskCommand
from aceserve.media import sniff_audio_type
from aceserve.store.files import file_path, put_file
from aceserve.store.models import StoredFile


def store_inline_audio(
    services: Services, account_id: str, command: CreateTaskCommand
) -> dict[str, tuple[str, StoredFile]]:
    """Put each inline audio field's bytes in storage; field -> (URL path, record to insert).

    The records join the task's transaction; if it fails the caller deletes the bytes again.
    """
    stored: dict[str, tuple[str, StoredFile]] = {}
    try:
        for name, audio in command.inline_audio.items():
            record = put_file(
                services.storage,
                audio.data,
                kind="input",
                ext=sniff_audio_type(audio.data) or "bin",
                retention_hours=services.settings.output_retention_hours,
                account_id=account_id,
            )
            stored[name] = (file_path(record), record)
    except BaseException:
        for _, record in stored.values():
            services.storage.delete(record.storage_key)
        raise
    return stored

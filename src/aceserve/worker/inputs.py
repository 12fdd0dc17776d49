"""Input audio for a task: the server's own files straight from storage, anything else through the
SSRF-safe fetcher; then decoded to 48 kHz stereo (in a helper process when the worker gives one)."""

from __future__ import annotations

from aceserve.domain.errors import TaskInputError
from aceserve.domain.inputs_models import TaskInput
from aceserve.engine.types import Audio
from aceserve.fetch import SafeFetcher
from aceserve.media import decode_audio
from aceserve.media.isolated import IsolatedDecoder
from aceserve.settings import Settings
from aceserve.storage import FileMissing, FileStorage
from aceserve.store.db import Database
from aceserve.store.files import get_live_file, own_file_ref


class InputResolver:
    """Reads and decodes a task's input audio.

    ``decoder`` (the worker makes one when ``settings.isolate_decoding`` is on, and closes it) decodes
    in a helper process, so a decoder crash fails the task instead of killing the worker; without
    one, audio is decoded in this process.
    """

    def __init__(
        self,
        settings: Settings,
        db: Database,
        storage: FileStorage,
        fetcher: SafeFetcher,
        decoder: IsolatedDecoder | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.storage = storage
        self.fetcher = fetcher
        self.decoder = decoder

    def audio_for(self, task_input: TaskInput) -> Audio | None:
        """The decoded input audio of a task, or None for tasks without one."""
        for name, value in task_input.audio_fields().items():
            data = self.read(value, field=f"input.{name}")
            return self.decode(data, field=f"input.{name}")
        return None

    def decode(self, data: bytes, *, field: str) -> Audio:
        max_seconds = self.settings.max_input_audio_seconds
        if self.decoder is not None:
            return self.decoder.decode(data, max_seconds=max_seconds, field=field)
        return decode_audio(data, max_seconds=max_seconds, field=field)

    def read(self, url_or_path: str, *, field: str) -> bytes:
        own = self.own_file(url_or_path)
        if own is not None:
            return self._read_own(own, url_or_path, field)
        return self.fetcher.fetch(url_or_path, field=field)

    def own_file(self, url_or_path: str) -> tuple[str, str] | None:
        """(id, ext) when the URL names one of this server's files (any of its stored outputs,
        uploads or inputs), which are read from storage without a network fetch."""
        return own_file_ref(url_or_path, self.settings.public_url)

    def _read_own(self, own: tuple[str, str], url: str, field: str) -> bytes:
        with self.db.read() as session:
            record = get_live_file(session, *own)
        if record is None:
            raise TaskInputError(f"`{field}` names a file of this server that does not exist or has expired: {url}")
        try:
            return self.storage.get(record.storage_key)
        except FileMissing:
            raise TaskInputError(f"`{field}` names a file of this server whose data is gone: {url}") from None

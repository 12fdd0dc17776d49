"""The create step of a task, beside the store: what ``POST /api/v1/task`` does once it has parsed
the request (the route only parses and renders).

1. An ``Idempotency-Key`` seen before returns the earlier task. ``input.lora`` must name an adapter
   of the ``--lora`` list (``domain.adapters``).
2. The input audio's length is found where it can be known now: inline audio and uploads are
   probed, this server's own files carry their length; a URL stays unknown until the worker.
   Bytes that are not audio are a 400 naming the field. audio2audio without ``duration`` echoes
   the input's length as its duration; a section repaint must lie within the input.
3. The cost is estimated (``domain.billing``) and frozen in the same transaction that inserts the
   task, its files and its webhook event (``store.tasks.create_task``); a 402 says what was
   estimated and why.
4. Inline audio is stored before that transaction and deleted again if it fails (or if the key was
   a repeat); the task's record names the files by relative path.
5. After the commit, in-process workers and the webhook sender are woken.
"""

from __future__ import annotations

from typing import Any

from aceserve.domain import billing
from aceserve.domain.adapters import check_adapter
from aceserve.domain.errors import InvalidInput
from aceserve.domain.inputs import CreateTaskCommand, batch_hint
from aceserve.domain.inputs_models import Audio2AudioInput, EditInput, TaskInput
from aceserve.media import sniff_audio_type
from aceserve.media.probing import AudioProber
from aceserve.settings import Settings
from aceserve.storage import FileMissing, FileStorage
from aceserve.store import tasks
from aceserve.store.db import Database
from aceserve.store.files import file_path, get_live_file, own_file_ref, put_file
from aceserve.store.models import StoredFile
from aceserve.store.render import render_task
from aceserve.store.uploads import probe_audio
from aceserve.store.wakeup import Wakeup


class TaskSubmitter:
    """Owns the create step; one per process, shared by every request."""

    def __init__(
        self, settings: Settings, db: Database, storage: FileStorage, wakeup: Wakeup, prober: AudioProber
    ) -> None:
        self.settings = settings
        self.db = db
        self.storage = storage
        self.wakeup = wakeup
        self.prober = prober

    def close(self) -> None:
        """Stop what it runs beside the process (the audio probe's helpers)."""
        self.prober.close()

    def submit(
        self,
        account_id: str,
        command: CreateTaskCommand,
        *,
        idempotency_key: str | None = None,
        key_hash: str | None = None,
        wait: bool = True,
    ) -> dict[str, Any]:
        """Create the task (or find the earlier one with this key); returns it rendered, with relative paths.
        ``key_hash``: the caller's API key, checked again inside the transaction (401 once revoked).
        ``wait=False``: for a caller that must not block (SQLite only, ``command.quick`` only): a create that
        would wait for the write lock raises ``WriterBusy`` before it did anything."""
        if not wait and not command.quick:
            raise ValueError("only a quick create (one short transaction) runs without waiting")
        if idempotency_key is not None:
            with self.db.read() as session:
                earlier = tasks.find_by_idempotency_key(session, account_id, idempotency_key)
                if earlier is not None:
                    return render_task(earlier)
        check_adapter(command.input, self.settings.adapter_names)
        task_input, input_seconds = self._with_input_length(command)
        if isinstance(task_input, EditInput) and input_seconds is not None:
            task_input.check_repaint_span(input_seconds)
        stored = self._store_inline_audio(account_id, command, input_seconds)
        try:
            task_input = task_input.model_copy(update={name: file_path(record) for name, record in stored.items()})
            estimate = billing.estimate(command.input, input_seconds)  # as given: says why it costs what it does
            price = self.settings.price_usd_per_second
            logs = list(command.notes)
            if not estimate.exact:
                logs.append(f"Frozen at create: {estimate.describe(price)}; the rest is frozen when it is known.")
            draft = tasks.TaskDraft(
                task_type=command.task_type,
                input=task_input.echo(),
                config=command.config_echo,
                frozen_units=billing.freeze_units(estimate.seconds, price),
                batch_hint=batch_hint(command),
                idempotency_key=idempotency_key,
                files=list(stored.values()),
                logs=tuple(logs),
                why=estimate.describe(price),
            )
            # files and webhook events are ORM rows; without them, a raw transaction costs a third as much
            with self.db.write() if draft.needs_session else self.db.raw_write(wait=wait) as writes:
                result = tasks.create_task(
                    writes,
                    account_id,
                    draft,
                    max_queued=self.settings.max_queued_tasks,
                    max_queued_per_account=self.settings.max_queued_per_account,
                    key_hash=key_hash,
                )
            data = result.render()
        except BaseException:
            self._delete(stored)
            raise
        if result.created:
            # workers (a pending task), and the webhook sender when the task asked for webhooks (an event)
            self.wakeup.notify(outbox=bool(command.webhook_endpoint))
        else:
            self._delete(stored)
        return data

    def _with_input_length(self, command: CreateTaskCommand) -> tuple[TaskInput, float | None]:
        """The input with audio2audio's default duration filled when the input's length is known now,
        and that length (None: a URL the worker will fetch, or no input audio)."""
        task_input = command.input
        seconds = None
        for name, value in task_input.audio_fields().items():
            inline = command.inline_audio.get(name)
            if inline is not None:
                seconds = self._probe(inline.data, f"input.{name}")
            else:
                seconds = self._own_file_seconds(value, f"input.{name}")
        if isinstance(task_input, Audio2AudioInput) and task_input.duration is None and seconds is not None:
            task_input = task_input.model_copy(update={"duration": round(seconds, 3)})
        return task_input, seconds

    def _probe(self, data: bytes, field: str) -> float:
        return probe_audio(self.prober, data, field, max_seconds=self.settings.max_input_audio_seconds)

    def _own_file_seconds(self, url: str, field: str) -> float | None:
        """The length of one of this server's files named by ``url``; None for any other URL."""
        ref = own_file_ref(url, self.settings.public_url)
        if ref is None:
            return None
        with self.db.read() as session:
            record = get_live_file(session, *ref)
        if record is None:
            raise InvalidInput(field, f"names a file of this server that does not exist or has expired: {url}")
        if record.seconds is not None:
            if record.seconds > self.settings.max_input_audio_seconds:
                limit = self.settings.max_input_audio_seconds
                raise InvalidInput(field, f"is {record.seconds:.1f} s long; the limit is {limit:g} s")
            return record.seconds
        try:  # a file stored before lengths were recorded
            return self._probe(self.storage.get(record.storage_key), field)
        except FileMissing:
            raise InvalidInput(field, f"names a file of this server whose data is gone: {url}") from None

    def _store_inline_audio(
        self, account_id: str, command: CreateTaskCommand, seconds: float | None
    ) -> dict[str, StoredFile]:
        """Put each inline audio field's bytes in storage; the records join the task's transaction."""
        stored: dict[str, StoredFile] = {}
        try:
            for name, audio in command.inline_audio.items():
                stored[name] = put_file(
                    self.storage,
                    audio.data,
                    kind="input",
                    ext=sniff_audio_type(audio.data) or "bin",
                    retention_hours=self.settings.output_retention_hours,
                    account_id=account_id,
                    seconds=seconds,
                )
        except BaseException:
            self._delete(stored)
            raise
        return stored

    def _delete(self, stored: dict[str, StoredFile]) -> None:
        for record in stored.values():
            self.storage.delete(record.storage_key)

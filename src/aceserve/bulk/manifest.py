"""What became of each line of a bulk file: ``manifest.jsonl`` in the output directory.

One JSON object per line of the bulk file, in line order: ``line``, ``task_id``, ``status``, ``output``
(the downloaded file's name in the directory), ``error`` and the line's ``idempotency_key``. The file is
rewritten whole (to a temporary file, then renamed) on every change, so it is always complete and a run
killed at any moment leaves the last state behind. A rerun reads it: a line whose entry is ``completed``
with its file present is skipped; any other line is submitted again with the same idempotency key, so a
task the server already has is found again, never made twice.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

MANIFEST_NAME = "manifest.jsonl"

COMPLETED = "completed"
FAILED = "failed"
REJECTED = "rejected"
"""Not a task: the line could not be read, or the server refused it (400, 402 …)."""


@dataclass(frozen=True)
class Entry:
    line: int
    task_id: str | None = None
    status: str = "new"
    output: str | None = None
    error: str | None = None
    idempotency_key: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Manifest:
    """The entries by line number; safe to update from several threads."""

    def __init__(self, path: Path, entries: dict[int, Entry] | None = None) -> None:
        self.path = path
        self._entries = dict(entries or {})
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: Path) -> Manifest:
        """The manifest at ``path``; empty when there is none. Lines that do not read are ignored
        (their bulk lines simply run again, with the same idempotency keys)."""
        entries: dict[int, Entry] = {}
        if path.exists():
            for raw in path.read_text(encoding="utf-8").splitlines():
                try:
                    value = json.loads(raw)
                    entry = Entry(**{key: value.get(key) for key in Entry.__dataclass_fields__})
                except (ValueError, TypeError):
                    continue
                if isinstance(entry.line, int):
                    entries[entry.line] = entry
        return cls(path, entries)

    def get(self, line: int) -> Entry | None:
        with self._lock:
            return self._entries.get(line)

    def entries(self) -> list[Entry]:
        with self._lock:
            return [self._entries[line] for line in sorted(self._entries)]

    def record(self, line: int, **changes: Any) -> Entry:
        """Change one line's entry and write the manifest; the entry as it is now."""
        with self._lock:
            entry = replace(self._entries.get(line) or Entry(line), **changes)
            self._entries[line] = entry
            self._write()
            return entry

    def keep_only(self, lines: set[int]) -> None:
        """Forget entries of lines the bulk file no longer has."""
        with self._lock:
            self._entries = {line: entry for line, entry in self._entries.items() if line in lines}
            self._write()

    def _write(self) -> None:
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        text = "".join(json.dumps(self._entries[line].to_json()) + "\n" for line in sorted(self._entries))
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, self.path)


def is_done(entry: Entry | None, key: str, directory: Path) -> bool:
    """Completed and downloaded for this very line (same idempotency key), its file still there."""
    return (
        entry is not None
        and entry.status == COMPLETED
        and entry.idempotency_key == key
        and entry.output is not None
        and (directory / entry.output).is_file()
    )

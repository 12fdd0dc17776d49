"""The port every file store implements, and the key rules they share.

Keys are opaque, relative, slash-separated names such as ``outputs/3c1e8a96.mp3``, chosen by the
server, never by a client. They are still validated: a key is joined to a directory on disk, and a
``..`` that slipped through would write outside it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Final, Protocol, runtime_checkable

_SEGMENT: Final = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
MAX_KEY_LENGTH: Final = 512


class FileMissing(LookupError):
    """No file is stored under the key (never stored, deleted, or expired)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"no file is stored under {key!r}")
        self.key = key


@runtime_checkable
class FileStorage(Protocol):
    """Where input uploads and outputs live: a local directory or an S3-compatible bucket."""

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store ``data`` under ``key``, replacing any file there; readers never see half a file."""
        ...

    def get(self, key: str) -> bytes:
        """The file's bytes; raises :class:`FileMissing` when there is none."""
        ...

    def open_path(self, key: str) -> Path | None:
        """A local path to the file when the store has one (to stream it from disk), else None."""
        ...

    def delete(self, key: str) -> None:
        """Remove the file; deleting a missing file is not an error (janitors race each other)."""
        ...

    def exists(self, key: str) -> bool: ...

    def list_keys(self, *, older_than: datetime) -> Iterator[str]:
        """Every stored key last modified before ``older_than`` (an aware datetime), in no set order.

        Lazy: large stores are listed a directory or a page at a time, and deleting keys already
        yielded while iterating is safe. Only names that pass :func:`check_key` are listed, so a
        temporary file, or anything else the server did not write, is never offered for deletion.
        The store's directory or bucket prefix must belong to this server alone: a janitor deletes
        the listed keys that have no record.
        """
        ...


def check_key(key: str) -> str:
    """Return ``key`` if it is a safe relative name, else raise ``ValueError``.

    Each segment starts with a letter, digit, ``_`` or ``-`` (so no ``.``, ``..`` or hidden files,
    which the local store uses for its temporary files) and contains only those and dots.
    """
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"invalid storage key {key!r}: empty or longer than {MAX_KEY_LENGTH} characters")
    if not all(_SEGMENT.fullmatch(segment) for segment in key.split("/")):
        raise ValueError(f"invalid storage key {key!r}: use relative names of letters, digits, '.', '_', '-'")
    return key


def is_key(name: str) -> bool:
    """Whether ``name`` passes :func:`check_key`: for listings, which skip what the store never wrote."""
    try:
        check_key(name)
    except ValueError:
        return False
    return True


def check_aware(moment: datetime) -> datetime:
    """Return ``moment`` if it carries a time zone, else raise ``ValueError`` (naive times are ambiguous)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"expected an aware datetime (UTC), got naive {moment!r}")
    return moment

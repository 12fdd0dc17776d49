"""Uploads (spec §6): ``POST /api/ephemeral_resource`` with ``{"file_name", "file_data"}``.

The body's one definition is ``UploadRequest``; ``check_upload`` reads a body against it with the
same base64 and ``data:`` URI reader as a task's inline audio. Whether the bytes are audio of the
named type is checked where they are stored (``store/uploads.py``, which can sniff them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, get_args

from pydantic import Field

from aceserve.domain.errors import InvalidInput
from aceserve.domain.inputs_audio import decode_inline
from aceserve.domain.inputs_fields import any_case_pattern, show
from aceserve.domain.inputs_schema import WireModel
from aceserve.domain.states import AudioType

MAX_UPLOAD_BYTES: Final = 10 * 1024 * 1024
MAX_FILE_NAME: Final = 128
UPLOAD_EXTENSIONS: Final[tuple[str, ...]] = get_args(AudioType)
# Accepted data URI types per extension (browsers and tools disagree on the names).
MIME_ALIASES: Final[dict[str, frozenset[str]]] = {
    "mp3": frozenset({"audio/mpeg", "audio/mp3", "audio/mpeg3", "audio/x-mpeg-3"}),
    "wav": frozenset({"audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave"}),
    "flac": frozenset({"audio/flac", "audio/x-flac"}),
    "ogg": frozenset({"audio/ogg", "application/ogg", "audio/vorbis", "audio/opus"}),
    "m4a": frozenset({"audio/mp4", "audio/m4a", "audio/x-m4a", "audio/aac"}),
}
_EXTENSION_PATTERN = "|".join(
    "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in e) for e in UPLOAD_EXTENSIONS
)


class UploadRequest(WireModel):
    """Body of `POST /api/ephemeral_resource`. The file is deleted after its retention (24 h by default)."""

    file_name: str = Field(
        min_length=1,
        max_length=MAX_FILE_NAME,
        pattern=rf"\.{any_case_pattern(UPLOAD_EXTENSIONS)}$",
        description=f"≤ {MAX_FILE_NAME} characters, ending in "
        + ", ".join(f".{ext}" for ext in UPLOAD_EXTENSIONS)
        + " (any case).",
        examples=["song.mp3"],
    )
    file_data: str = Field(
        min_length=1,
        description="The file as base64 (standard or URL-safe) or a `data:<type>;base64,…` URI whose type matches "
        f"the extension; ≤ {MAX_UPLOAD_BYTES // (1024 * 1024)} MiB decoded; the bytes must be audio of the named "
        "type.",
    )


@dataclass(frozen=True)
class Upload:
    """A checked upload: the extension (lowercase) and the decoded bytes."""

    ext: str
    data: bytes = field(repr=False)


def check_upload(body: object, *, max_bytes: int = MAX_UPLOAD_BYTES) -> Upload:
    """Validate the name, the declared type and the size; the caller checks the bytes' real type."""
    if not isinstance(body, dict):
        raise InvalidInput("body", "must be a JSON object with `file_name` and `file_data`")
    name: Any = body.get("file_name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("file_name", f"is required and must be a non-empty string; got {show(name)}")
    if len(name) > MAX_FILE_NAME:
        raise InvalidInput("file_name", f"must be at most {MAX_FILE_NAME} characters; got {len(name)}")
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext not in UPLOAD_EXTENSIONS:
        raise InvalidInput("file_name", f"must end in one of .{', .'.join(UPLOAD_EXTENSIONS)}; got {show(name)}")
    payload = body.get("file_data")
    if not isinstance(payload, str) or not payload.strip():
        raise InvalidInput("file_data", f"is required and must be a base64 string or a data: URI; got {show(payload)}")

    def matches_extension(mime: str, path: str) -> None:
        if mime not in MIME_ALIASES[ext]:
            raise InvalidInput(path, f"data: URI type {show(mime)} does not match the .{ext} extension")

    decoded = decode_inline(
        payload,
        "file_data",
        max_bytes=max_bytes,
        check_type=matches_extension,
        forms="must be base64 or a data:<type>;base64,<payload> URI",
    )
    return Upload(ext=ext, data=decoded.data)

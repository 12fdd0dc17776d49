"""Audio sent inside a request: the one reader of base64 and ``data:`` URIs, for task inputs and uploads.

An audio input field (``style_audio``, ``audio``) is classified by the string's start:

- ``http://`` or ``https://`` (any case): a URL, checked (parseable, has a host, ≤ 2048 chars) and
  kept as given; the worker fetches it.
- ``data:`` (any case): must be ``data:<type>[;param=value...];base64,<payload>``; the payload is
  decoded here. Task inputs take ``audio/*`` or ``application/octet-stream``; uploads take the
  types of their file name's extension.
- anything else: must be base64, standard or URL-safe alphabet, padding optional, whitespace
  (line breaks) ignored; decoded here.

Decoded bytes must be non-empty and at most the caller's byte limit (``FieldTooLarge``, 413).
Whether the bytes really are audio is checked where ffmpeg is at hand (the create step probes
them); a URL's audio is checked by the worker.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from aceserve.domain.errors import FieldTooLarge, InvalidInput
from aceserve.domain.inputs_fields import read_http_url, show

AUDIO_FORMS = "must be an http(s) URL, a data: URI or base64-encoded audio"

_BASE64_BODY = re.compile(r"[A-Za-z0-9+/]*")
_URL_SAFE = str.maketrans("-_", "+/")
_MIME = re.compile(r"audio/[a-z0-9][a-z0-9!#$&^_.+-]*")
_PADDED_TAIL_BYTES = {0: 0, 2: 1, 3: 2}

TypeCheck = Callable[[str, str], None]
"""``(mime type, field path)``: raises ``InvalidInput`` for a ``data:`` URI type the caller refuses."""


@dataclass(frozen=True)
class InlineAudio:
    """Bytes sent inside the request body, decoded; the create step stores them and echoes their URL."""

    data: bytes = field(repr=False)
    mime_type: str | None = None
    """The type a ``data:`` URI declared (lowercase, without parameters); None for raw base64."""

    def __repr__(self) -> str:
        return f"InlineAudio(<{len(self.data)} bytes>, mime_type={self.mime_type!r})"


def audio_type_only(mime: str, path: str) -> None:
    """The types a task's inline audio may declare."""
    if not (_MIME.fullmatch(mime) or mime == "application/octet-stream"):
        raise InvalidInput(
            path, f"must be a data: URI with an audio/* or application/octet-stream type; got {show(mime)}"
        )


def read_audio(value: object, path: str, *, max_bytes: int) -> str | InlineAudio:
    """An audio input field: the URL as given, or the decoded inline audio."""
    if not isinstance(value, str):
        raise InvalidInput(path, f"{AUDIO_FORMS}; got {show(value)}")
    if not value.strip():
        raise InvalidInput(path, f"must not be empty; it {AUDIO_FORMS}")
    if value[:8].lower().startswith(("http://", "https://")):
        return read_http_url(value, path, what="must be an absolute http(s) URL with a host")
    return decode_inline(value, path, max_bytes=max_bytes, check_type=audio_type_only)


def decode_inline(
    value: str, path: str, *, max_bytes: int, check_type: TypeCheck, forms: str = AUDIO_FORMS
) -> InlineAudio:
    """Decode raw base64 or a base64 ``data:`` URI (whose type ``check_type`` accepts); ``forms`` is the
    rule shown for text that is neither."""
    if value[:5].lower() == "data:":
        return _read_data_uri(value, path, max_bytes=max_bytes, check_type=check_type)
    data = _decode_base64(value, path, max_bytes=max_bytes)
    if data is None:
        raise InvalidInput(path, f"{forms}; got {show(value)}")
    return InlineAudio(data=data)


def _read_data_uri(value: str, path: str, *, max_bytes: int, check_type: TypeCheck) -> InlineAudio:
    header, comma, payload = value[len("data:") :].partition(",")
    params = [part.strip() for part in header.split(";")]
    mime = params[0].lower()
    if not comma or len(params) < 2 or params[-1].lower() != "base64":
        raise InvalidInput(
            path, f"must be a data: URI of the form data:<audio type>;base64,<payload>; got {show(value)}"
        )
    check_type(mime, path)
    data = _decode_base64(payload, path, max_bytes=max_bytes)
    if data is None:
        raise InvalidInput(path, f"must be a data: URI whose payload is valid base64; got {show(value)}")
    return InlineAudio(data=data, mime_type=mime)


def _decode_base64(text: str, path: str, *, max_bytes: int) -> bytes | None:
    """The decoded bytes; None when ``text`` is not base64. Checks the size before decoding."""
    compact = "".join(text.split()).translate(_URL_SAFE)
    body = compact.rstrip("=")
    padding = len(compact) - len(body)
    if padding > 2 or not _BASE64_BODY.fullmatch(body) or len(body) % 4 == 1:
        return None
    if padding and (len(body) + padding) % 4:
        return None  # padding present but wrong
    size = len(body) // 4 * 3 + _PADDED_TAIL_BYTES[len(body) % 4]
    if size == 0:
        raise InvalidInput(path, "must not be empty once decoded; got 0 bytes")
    if size > max_bytes:
        raise FieldTooLarge(path, f"must be at most {max_bytes} bytes{_mib(max_bytes)} once decoded; got {size} bytes")
    body += "=" * (-len(body) % 4)
    try:
        return binascii.a2b_base64(body, strict_mode=True)
    except binascii.Error:  # pragma: no cover - the checks above admit only decodable text
        return None


def _mib(n: int) -> str:
    """`` (50 MiB)`` for limits of a MiB or more, else nothing."""
    mib = n / (1024 * 1024)
    return f" ({mib:.4g} MiB)" if mib >= 1 else ""

"""Reading JSON request bodies ourselves, so every failure is our 400 or 413 in the envelope.

Beside the size limits (``body_limit.py`` app-wide, ``limit`` per route) a body must:

- be declared as JSON: a ``Content-Type`` other than ``application/json`` (or ``…+json``) is a 400
  naming the header; a body without one is read as JSON, as minimal clients send none;
- nest arrays and objects at most ``MAX_JSON_DEPTH`` levels deep;
- write each number in at most ``MAX_NUMBER_CHARS`` characters.

Without the last two, Python's parser fails with ``RecursionError`` (about 1000 levels) or
``ValueError`` (integers over 4300 digits), which no client can act on.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from fastapi import Request

from aceserve.domain.errors import InvalidInput, PayloadTooLarge

MAX_JSON_DEPTH: Final = 32
MAX_NUMBER_CHARS: Final = 100
_TOKENS: Final = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


async def read_json(request: Request, *, limit: int | None = None, too_large: str = "") -> Any:
    """The parsed body. ``limit`` caps this route below the app-wide limit, counted while reading."""
    check_content_type(request.headers.get("content-type"))
    if limit is None:
        raw = await request.body()
    else:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(too_large or f"Request body is larger than the {limit} byte limit.")
            chunks.append(chunk)
        raw = b"".join(chunks)
    return parse_json(raw)


def check_content_type(value: str | None) -> None:
    """A declared type must be JSON (any parameters, a UTF-8 charset if one is named)."""
    if value is None:
        return
    media_type, _, params = value.partition(";")
    media_type = media_type.strip().lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        raise InvalidInput("Content-Type", f"must be application/json; got {value[:100]!r}")
    for param in params.split(";"):
        name, _, charset = param.partition("=")
        if name.strip().lower() == "charset" and charset.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise InvalidInput("Content-Type", f"must name the utf-8 charset if any; got {value[:100]!r}")


def parse_json(raw: bytes) -> Any:
    """``raw`` as JSON, or ``InvalidInput`` on ``body`` naming the rule it breaks."""
    if not raw.strip():
        raise InvalidInput("body", "must be a JSON object; the request body was empty")
    _check_depth(raw)
    try:
        return json.loads(raw.decode("utf-8"), parse_int=_integer, parse_float=_float)  # UTF-8 only (RFC 8259)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput("body", f"must be valid JSON ({exc})") from None


def _check_depth(raw: bytes) -> None:
    if raw.count(b"[") + raw.count(b"{") <= MAX_JSON_DEPTH:  # the common case, at C speed
        return
    depth = 0
    for match in _TOKENS.finditer(raw):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise InvalidInput("body", f"must not nest arrays and objects more than {MAX_JSON_DEPTH} levels deep")
        elif token in (b"]", b"}"):
            depth -= 1


def _number(text: str) -> None:
    if len(text) > MAX_NUMBER_CHARS:
        raise InvalidInput(
            "body", f"must not hold a number longer than {MAX_NUMBER_CHARS} characters; got one of {len(text)}"
        )


def _integer(text: str) -> int:
    _number(text)
    return int(text)


def _float(text: str) -> float:
    _number(text)
    return float(text)

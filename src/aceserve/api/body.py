"""Reading JSON request bodies ourselves, so every failure is our 400 or 413 in the envelope."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from aceserve.domain.errors import InvalidInput, PayloadTooLarge


async def read_json(request: Request, *, limit: int | None = None, too_large: str = "") -> Any:
    """The parsed body. ``limit`` caps this route below the app-wide limit, counted while reading."""
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
    if not raw.strip():
        raise InvalidInput("body", "must be a JSON object; the request body was empty")
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput("body", f"must be valid JSON ({exc})") from None

"""The PiAPI envelope. Every response body, success or error, is built here."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse, Response

from aceserve.domain.text import json_bytes


class EnvelopeResponse(JSONResponse):
    """JSON that always renders: a string stored below the API (a lone surrogate) is sent as U+FFFD
    instead of failing the response (``domain.text.json_bytes``). The app's default response class."""

    def render(self, content: Any) -> bytes:
        return json_bytes(content)


def success(data: Any) -> dict[str, Any]:
    return {"code": 200, "data": data, "message": "success"}


def success_response(data: Any) -> Response:
    """The success envelope rendered straight to bytes (no ``jsonable_encoder`` walk: ``data`` is JSON-ready).
    A string stored below the API that orjson refuses (a lone surrogate) is rendered by ``json_bytes``."""
    body = success(data)
    try:
        content = orjson.dumps(body)
    except TypeError:
        content = json_bytes(body)
    return Response(content, media_type="application/json")


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"code": status, "data": None, "message": message}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return EnvelopeResponse(error_body(status, message), status_code=status, headers=headers)

"""The PiAPI envelope. Every response body, success or error, is built here."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse, Response


def success(data: Any) -> dict[str, Any]:
    return {"code": 200, "data": data, "message": "success"}


def success_response(data: Any) -> Response:
    """The success envelope rendered straight to bytes (no ``jsonable_encoder`` walk: ``data`` is JSON-ready)."""
    return Response(orjson.dumps(success(data)), media_type="application/json")


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"code": status, "data": None, "message": message}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message), status_code=status, headers=headers)

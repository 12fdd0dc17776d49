"""The PiAPI envelope. Every response body, success or error, is built here."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse


def success(data: Any) -> dict[str, Any]:
    return {"code": 200, "data": data, "message": "success"}


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"code": status, "data": None, "message": message}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message), status_code=status, headers=headers)

"""One mapping from every failure to the PiAPI error envelope (contract §2)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from aceserve.api.envelope import error_response
from aceserve.domain.errors import AceserveError, TooManyRequests

log = logging.getLogger("aceserve.api")

_HTTP_MESSAGES = {
    404: "No such endpoint: {method} {path}.",
    405: "Method {method} is not allowed on {path}.",
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AceserveError)
    async def _domain(request: Request, exc: AceserveError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequests) else None
        return error_response(exc.status_code, exc.message, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path", "header"))
        return error_response(400, f"`{where or 'request'}` {first.get('msg', 'is invalid').lower()}.")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        template = _HTTP_MESSAGES.get(exc.status_code)
        message = (
            template.format(method=request.method, path=request.url.path)
            if template and exc.detail in (None, "Not Found", "Method Not Allowed")
            else str(exc.detail)
        )
        return error_response(exc.status_code, message, dict(exc.headers or {}) or None)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "Internal server error; the failure was logged on the server.")

"""One mapping from every failure to the PiAPI error envelope (contract §2)."""

from __future__ import annotations

import logging
import traceback

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


class UnexpectedErrors:
    """ASGI middleware, outermost: any error no handler maps answers 500 in the envelope with exactly
    one log line, and the connection stays open for the client's next request.

    (Starlette's own catch-all re-raises after answering, so the server logs a second traceback and
    drops the keep-alive connection.) An error after the answer has started can only be logged; a
    client that went away while its body was being read is not an error at all.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except ClientDisconnect:
            return
        except Exception as exc:
            log.error("unhandled error on %s %s: %s", scope.get("method"), scope.get("path"), describe(exc))
            if not started:
                response = error_response(500, "Internal server error; the failure was logged on the server.")
                await response(scope, receive, send)


def describe(exc: BaseException) -> str:
    """One line: the error and where it was raised (innermost aceserve frame, else the innermost)."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [frame for frame in frames if "aceserve" in frame.filename]
    where = (ours or frames)[-1:] if frames else []
    at = (
        f" (at {where[0].filename.rsplit('/site-packages/', 1)[-1]}:{where[0].lineno} in {where[0].name})"
        if where
        else ""
    )
    text = " ".join(str(exc).split())[:500]
    return f"{type(exc).__name__}: {text}{at}"

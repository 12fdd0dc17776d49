"""How the app is served: uvicorn's configuration from the settings, in one place for ``serve``,
``api`` and embedded servers (tests, benchmarks).

Limits (see ``docs/limits.md``): ``max_connections`` open connections (0: what the open-file limit
allows, ``connections.default_max_connections``), a request head within ``header_timeout_seconds``,
no gap over ``body_timeout_seconds`` while a body is read, idle keep-alive connections closed after
``keep_alive_seconds``, and repeated server log lines rate-limited.
"""

from __future__ import annotations

from typing import Any

import uvicorn

from aceserve.api.connections import GuardedH11Protocol, default_max_connections
from aceserve.api.log_limits import limit_repeats
from aceserve.settings import Settings


def max_connections(settings: Settings) -> int:
    return settings.max_connections or default_max_connections()


def server_config(app: Any, settings: Settings, *, log_level: str | None = None) -> uvicorn.Config:
    """The uvicorn configuration for ``app`` under ``settings``."""
    limit_repeats()
    cap = max_connections(settings)
    protocol = GuardedH11Protocol.guarded(
        max_connections=cap,
        header_timeout=settings.header_timeout_seconds,
        body_timeout=settings.body_timeout_seconds,
    )
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=protocol,
        log_level=log_level or settings.log_level,
        lifespan="on",
        timeout_keep_alive=max(1, round(settings.keep_alive_seconds)),
        limit_concurrency=cap + 1,  # in-flight requests; connections past the cap are refused earlier
        timeout_graceful_shutdown=30,
        # json: uvicorn's records go through the root handler's JSON formatter too
        log_config=None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG,
    )

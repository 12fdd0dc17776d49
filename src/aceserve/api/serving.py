"""How the app is served: uvicorn's configuration from the settings, in one place for ``serve``,
``api`` and embedded servers (tests, benchmarks).

Limits (see ``docs/limits.md``): ``max_connections`` open connections (0: what the open-file limit
allows, ``connections.default_max_connections``), a request head within ``header_timeout_seconds``,
no gap over ``body_timeout_seconds`` while a body is read, idle keep-alive connections closed after
``keep_alive_seconds``, and repeated server log lines rate-limited.
"""

from __future__ import annotations

import inspect
from typing import Any

import uvicorn

from aceserve.api.connections import default_max_connections, guarded_protocol
from aceserve.api.log_limits import limit_repeats
from aceserve.settings import Settings


def max_connections(settings: Settings) -> int:
    return settings.max_connections or default_max_connections()


class GuardedProtocol:
    """uvicorn's ``http`` protocol with this server's limits: a factory that makes the guarded class in the
    process that serves, so the configuration pickles (``aceserve api --workers N`` sends it to each
    process)."""

    def __init__(self, *, max_connections: int, header_timeout: float, body_timeout: float) -> None:
        self.max_connections = max_connections
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self._protocol: type[Any] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_protocol": None}

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._protocol is None:
            self._protocol = guarded_protocol(
                max_connections=self.max_connections, header_timeout=self.header_timeout, body_timeout=self.body_timeout
            )
        return self._protocol(*args, **kwargs)


def server_config(app: Any, settings: Settings, *, log_level: str | None = None, processes: int = 1) -> uvicorn.Config:
    """The uvicorn configuration for ``app`` under ``settings``; ``processes`` > 1: uvicorn's workers."""
    limit_repeats()
    cap = max_connections(settings)
    protocol = GuardedProtocol(
        max_connections=cap,
        header_timeout=settings.header_timeout_seconds,
        body_timeout=settings.body_timeout_seconds,
    )
    extra: dict[str, Any] = {}
    if processes > 1 and "timeout_worker_healthcheck" in inspect.signature(uvicorn.Config).parameters:
        # A process that starts on a busy machine may take more than uvicorn's 5 s to answer its first ping.
        extra["timeout_worker_healthcheck"] = 60
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=protocol,  # type: ignore[arg-type]  # a factory of the protocol, as uvicorn only calls it
        log_level=log_level or settings.log_level,
        lifespan="on",
        timeout_keep_alive=max(1, round(settings.keep_alive_seconds)),
        limit_concurrency=cap + 1,  # in-flight requests; connections past the cap are refused earlier
        timeout_graceful_shutdown=30,
        # json: uvicorn's records go through the root handler's JSON formatter too
        log_config=None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG,
        workers=processes,
        **extra,
    )

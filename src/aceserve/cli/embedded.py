"""Run an aceserve app in a background thread of this process (benchmarks, tests, notebooks)."""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from aceserve.api.app import end_event_streams
from aceserve.api.serving import server_config
from aceserve.settings import Settings

ASGIApp = Callable[..., Awaitable[Any]]
"""An ASGI application, such as the one ``aceserve.api.create_app`` makes."""


@contextmanager
def serve_in_thread(app: ASGIApp, settings: Settings, *, start_timeout: float = 60.0) -> Iterator[None]:
    """Serve ``app`` on ``settings.host:settings.port`` with the limits ``serve`` uses, until the
    block ends; waits until it accepts connections."""
    host, port = settings.host, settings.port
    server = uvicorn.Server(server_config(app, settings, log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            raise RuntimeError(f"the server on {host}:{port} did not start")
        time.sleep(0.01)
    try:
        yield
    finally:
        end_event_streams(app)  # open event streams would hold the shutdown
        server.should_exit = True
        thread.join(60)

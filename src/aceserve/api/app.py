"""The application factory. Nothing is built at import time."""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol

import anyio.to_thread
from fastapi import FastAPI

from aceserve import __version__
from aceserve.api.body_limit import BodySizeLimit
from aceserve.api.deps import Services
from aceserve.api.envelope import EnvelopeResponse
from aceserve.api.errors import UnexpectedErrors, install_error_handlers
from aceserve.api.mcp import McpEndpoint, install_mcp
from aceserve.api.ratelimit import RateLimiter
from aceserve.api.reads import Creates, HotReads
from aceserve.api.routes import account, events, files, health, metrics, tasks, uploads
from aceserve.api.routes.pages import install_pages
from aceserve.api.schemas import install_openapi
from aceserve.api.streams import OpenStreams
from aceserve.media.probing import AudioProber, InProcessProber, IsolatedProber
from aceserve.settings import Settings
from aceserve.storage import open_storage
from aceserve.store.feed import TaskFeed
from aceserve.store.migrate import open_database
from aceserve.store.submit import TaskSubmitter
from aceserve.store.wakeup import Wakeup

log = logging.getLogger("aceserve.api")


class BackgroundService(Protocol):
    """Something the app runs beside itself (in-process worker, webhook sender, file janitor)."""

    runs_tasks: bool
    """True for a worker: the app then expects one to be ready before it calls itself ready."""

    def start(self, services: Services) -> None: ...

    def request_stop(self) -> None:
        """Ask it to finish, without waiting (all services are asked before any is waited for)."""
        ...

    def stop(self) -> None:
        """Ask it to finish and wait until it has."""
        ...


def build_services(settings: Settings) -> Services:
    db = open_database(settings.database_url)
    storage = open_storage(settings.storage_url, files_dir=settings.files_dir, s3_endpoint_url=settings.s3_endpoint_url)
    wakeup = Wakeup.for_database(settings.database_url)
    submitter = TaskSubmitter(settings, db, storage, wakeup, audio_prober(settings))
    feed = TaskFeed.for_database(settings.database_url, poll_seconds=settings.events_poll_seconds)
    return Services(
        settings,
        db,
        storage,
        wakeup,
        RateLimiter(settings.rate_limit_per_minute),
        submitter,
        feed,
        OpenStreams(settings.events_max_streams_per_key),
        HotReads(inline=not db.is_postgres, threads=min(4, settings.api_threads)),
        Creates(inline=not db.is_postgres),
    )


def audio_prober(settings: Settings) -> AudioProber:
    """Measures the audio requests carry: in helper processes unless ``isolate_decoding`` is off."""
    if settings.isolate_decoding:
        return IsolatedProber(timeout_seconds=settings.decode_timeout_seconds)
    return InProcessProber()


def telemetry_options() -> dict[str, Any]:
    """FastAPI's OpenTelemetry hooks stay off unless FastAPI's own switch (``FASTAPI_OTEL_AUTO_CONFIGURE=true``)
    asks for them: aceserve sets no OpenTelemetry provider, and looking for one costs every request
    about a sixth of its time."""
    if "telemetry" not in inspect.signature(FastAPI).parameters:
        return {}  # a FastAPI without them
    if os.environ.get("FASTAPI_OTEL_AUTO_CONFIGURE", "").lower() == "true":
        return {}
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}


def create_app(settings: Settings, *, background: Sequence[BackgroundService] = ()) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Threads for blocking work (the routes' database calls): a few keep the GIL's hand-offs short;
        # more only queue at the GIL, or at SQLite's one writer.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.api_threads
        services = build_services(settings)
        services.expects_workers = (
            settings.ready_requires_worker
            if settings.ready_requires_worker is not None
            else any(service.runs_tasks for service in background)
        )
        app.state.services = services
        app.state.mcp = McpEndpoint(services)
        for service in background:
            service.start(services)
        try:
            async with app.state.mcp.running():
                yield
        finally:
            for service in background:
                service.request_stop()
            for service in reversed(background):
                service.stop()
            services.feed.close()
            services.wakeup.close()
            services.reads.close()
            services.submitter.close()
            services.db.dispose()

    app = FastAPI(
        title="aceserve",
        version=__version__,
        summary="PiAPI's Qubico/ace-step task API, self-hosted on ACE-Step 1.5.",
        lifespan=lifespan,
        default_response_class=EnvelopeResponse,
        docs_url=None,  # served offline by routes/pages.py
        redoc_url=None,
        **telemetry_options(),
    )
    install_error_handlers(app)
    install_openapi(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(UnexpectedErrors)  # outermost of ours: added last
    for module in (tasks, events, uploads, account, files, health, metrics):
        app.include_router(module.router)
    install_pages(app)
    install_mcp(app)
    return app


def end_event_streams(app: object) -> None:
    """The server is stopping: end the app's open task event streams now, so they do not hold its graceful
    shutdown open (clients reconnect with ``Last-Event-ID``). Safe to call from any thread, at any time."""
    services = getattr(getattr(app, "state", None), "services", None)
    if isinstance(services, Services):
        services.feed.close()

"""Health: ``/health`` (PiAPI-style body: the API, the database, each worker), and the Kubernetes pair
``/health/live`` (the process answers) and ``/health/ready`` (this process can take tasks).

Ready means: the database answers and, where workers are expected (``serve``, or
``ready_requires_worker``), at least one worker is live and ready or busy. One verdict serves all
three routes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from aceserve.api import schemas
from aceserve.api.deps import Services, ServicesDep
from aceserve.api.envelope import error_response, success
from aceserve.store.render import format_time
from aceserve.store.workers import WorkerView, worker_views

router = APIRouter(tags=["health"])


@dataclass(frozen=True)
class Readiness:
    backend: str
    database_error: str | None
    workers: list[WorkerView] = field(default_factory=list)
    needs_worker: bool = False

    @property
    def serving_workers(self) -> int:
        return sum(1 for view in self.workers if view.serving)

    @property
    def ready(self) -> bool:
        return self.database_error is None and (self.serving_workers > 0 or not self.needs_worker)

    @property
    def reason(self) -> str:
        if self.database_error is not None:
            return f"Database unavailable ({self.backend}): {self.database_error}"
        if self.needs_worker and not self.serving_workers:
            seen = ", ".join(f"{view.worker.id} {view.presence}" for view in self.workers) or "none"
            return f"No live worker is ready or busy (workers: {seen})."
        return "ready"


def readiness(services: Services) -> Readiness:
    backend = services.db.engine.dialect.name
    try:
        services.db.ping()
        views = worker_views(
            services.db,
            gone_after=services.settings.worker_gone_after,
            forget_after=services.settings.worker_forget_seconds,
        )
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return Readiness(backend, reason)
    return Readiness(backend, None, views, needs_worker=services.expects_workers)


@router.get(
    "/health",
    summary="Liveness and readiness",
    operation_id="health",
    response_model=None,
    responses={
        **schemas.responses(schemas.HealthResponse, description="The API and the database are up."),
        503: {"model": schemas.ErrorResponse, "description": "The database is unreachable; the message says why."},
    },
)
def health(services: ServicesDep) -> JSONResponse:
    state = readiness(services)
    if state.database_error is not None:
        return error_response(503, state.reason)
    data = {
        "status": "ok",
        "ready": state.ready,
        "api": {"status": "ok"},
        "database": {"backend": state.backend, "status": "ok"},
        "workers": [worker_status(view) for view in state.workers],
        "adapters": list(services.settings.adapter_names),
    }
    return JSONResponse(success(data))


@router.get("/health/live", include_in_schema=False)
def live() -> JSONResponse:
    """The process answers: nothing else is checked (a liveness probe must not fail on the database)."""
    return JSONResponse(success({"status": "ok"}))


@router.get("/health/ready", include_in_schema=False)
def ready(services: ServicesDep) -> JSONResponse:
    """200 when this process can take tasks, else 503 saying why (a readiness probe)."""
    state = readiness(services)
    if not state.ready:
        return error_response(503, state.reason)
    return JSONResponse(success({"status": "ready", "workers_serving": state.serving_workers}))


def worker_status(view: WorkerView) -> dict[str, Any]:
    """A worker as /health shows it."""
    worker = view.worker
    return {
        "id": worker.id,
        "state": view.presence,
        "device": worker.device,
        "model": worker.model,
        "detail": worker.detail,
        "last_seen": format_time(worker.heartbeat_at),
    }

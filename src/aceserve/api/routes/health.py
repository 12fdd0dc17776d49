"""``/health``: the API, the database and each worker's state."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from aceserve.api import schemas
from aceserve.api.deps import ServicesDep
from aceserve.api.envelope import error_response, success
from aceserve.store.clock import utcnow
from aceserve.store.models import Worker
from aceserve.store.render import format_time
from aceserve.store.workers import WorkerState, list_workers

router = APIRouter(tags=["health"])


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
    backend = services.db.engine.dialect.name
    try:
        services.db.ping()
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return error_response(503, f"Database unavailable ({backend}): {reason}")
    workers = [worker_status(worker, services.settings.heartbeat_seconds) for worker in list_workers(services.db)]
    shown = [worker for worker in workers if worker is not None]
    data = {
        "status": "ok",
        "ready": any(worker["state"] in ("ready", "busy") for worker in shown),
        "api": {"status": "ok"},
        "database": {"backend": backend, "status": "ok"},
        "workers": shown,
    }
    return JSONResponse(success(data))


def worker_status(worker: Worker, heartbeat_seconds: float) -> dict[str, Any] | None:
    """A worker as /health shows it; None for one stopped over an hour ago."""
    now = utcnow()
    state: str = worker.state
    if state not in (WorkerState.STOPPED, WorkerState.FAILED) and now - worker.heartbeat_at > timedelta(
        seconds=max(30.0, 3 * heartbeat_seconds)
    ):
        state = "unresponsive"
    if state == WorkerState.STOPPED and now - worker.heartbeat_at > timedelta(hours=1):
        return None
    return {
        "id": worker.id,
        "state": state,
        "device": worker.device,
        "model": worker.model,
        "detail": worker.detail,
        "last_seen": format_time(worker.heartbeat_at),
    }

"""``/health``: the API, the database and each worker's state."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from aceserve.api.deps import ServicesDep
from aceserve.store.clock import utcnow
from aceserve.store.render import format_time
from aceserve.store.workers import WorkerState, list_workers

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness and readiness")
def health(services: ServicesDep) -> JSONResponse:
    database: dict[str, Any] = {"backend": services.db.engine.dialect.name}
    try:
        with services.db.read() as session:
            session.execute(text("SELECT 1"))
        database["status"] = "ok"
    except Exception as exc:
        database.update(status="error", detail=str(exc).splitlines()[0])
    stale_after = timedelta(seconds=max(30.0, 3 * services.settings.heartbeat_seconds))
    workers = []
    now = utcnow()
    for worker in list_workers(services.db) if database["status"] == "ok" else []:
        state = worker.state
        if state not in (WorkerState.STOPPED, WorkerState.FAILED) and now - worker.heartbeat_at > stale_after:
            state = "unresponsive"
        if state == WorkerState.STOPPED and now - worker.heartbeat_at > timedelta(hours=1):
            continue
        workers.append(
            {
                "id": worker.id,
                "state": state,
                "device": worker.device,
                "model": worker.model,
                "detail": worker.detail,
                "last_seen": format_time(worker.heartbeat_at),
            }
        )
    ready = database["status"] == "ok" and any(w["state"] in ("ready", "busy") for w in workers)
    status = "ok" if database["status"] == "ok" else "error"
    code = 200 if status == "ok" else 503
    body = {
        "code": code,
        "data": {"status": status, "ready": ready, "api": {"status": "ok"}, "database": database, "workers": workers},
        "message": "success" if status == "ok" else "database unavailable",
    }
    return JSONResponse(body, status_code=code)

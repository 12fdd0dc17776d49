"""Workers report their state here, so ``/health`` can show every worker of a deployment."""

from __future__ import annotations

from sqlalchemy import select

from aceserve.domain.states import WorkerState
from aceserve.store.clock import utcnow
from aceserve.store.db import Database
from aceserve.store.models import Worker


def report(db: Database, worker_id: str, *, state: WorkerState, device: str, model: str, detail: str = "") -> None:
    with db.write() as session:
        now = utcnow()
        row = session.get(Worker, worker_id)
        if row is None:
            session.add(
                Worker(
                    id=worker_id,
                    device=device,
                    model=model,
                    state=state,
                    detail=detail,
                    started_at=now,
                    heartbeat_at=now,
                )
            )
            return
        row.state = state
        row.device = device
        row.model = model
        row.detail = detail
        row.heartbeat_at = now


def list_workers(db: Database) -> list[Worker]:
    with db.read() as session:
        return list(session.scalars(select(Worker).order_by(Worker.started_at)).all())


__all__ = ["WorkerState", "list_workers", "report"]

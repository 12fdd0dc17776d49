"""Workers report their state here, so ``/health`` can show every worker of a deployment.

A worker rewrites its row every heartbeat, idle or busy (``worker.presence``). A row whose heartbeat is
older than the gone threshold describes a worker that died without saying so (SIGKILL, lost machine):
it is shown as ``gone`` and never counted as ready. Rows silent for much longer are deleted (``forget``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, assert_never

from sqlalchemy import delete, select

from aceserve.domain.states import WorkerState
from aceserve.store.clock import utcnow
from aceserve.store.db import Database
from aceserve.store.models import Worker

Presence = Literal["starting", "ready", "busy", "failed", "stopped", "gone"]
"""A worker as others see it: its own state, or ``gone`` when it stopped heartbeating unannounced."""
PRESENCES: tuple[Presence, ...] = ("starting", "ready", "busy", "failed", "stopped", "gone")


def report(db: Database, worker_id: str, *, state: WorkerState, device: str, model: str, detail: str = "") -> None:
    """Write the worker's state and a fresh heartbeat (creating the row, also after it was forgotten)."""
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


def presence_of(worker: Worker, *, gone_after: float, now: datetime | None = None) -> Presence:
    """The worker's state, or ``gone`` when a running one has been silent over ``gone_after`` seconds.
    Failed and stopped workers said their last word; they keep their state until forgotten."""
    state = WorkerState(worker.state)
    silent = (now or utcnow()) - worker.heartbeat_at > timedelta(seconds=gone_after)
    match state:
        case WorkerState.FAILED:
            return "failed"
        case WorkerState.STOPPED:
            return "stopped"
        case WorkerState.STARTING:
            return "gone" if silent else "starting"
        case WorkerState.READY:
            return "gone" if silent else "ready"
        case WorkerState.BUSY:
            return "gone" if silent else "busy"
        case _:
            assert_never(state)


@dataclass(frozen=True)
class WorkerView:
    worker: Worker
    presence: Presence

    @property
    def serving(self) -> bool:
        """Live and able to take tasks: ready or busy with a fresh heartbeat."""
        return self.presence in ("ready", "busy")


def worker_views(db: Database, *, gone_after: float, forget_after: float) -> list[WorkerView]:
    """Every worker not yet forgotten, with its presence."""
    now = utcnow()
    horizon = now - timedelta(seconds=forget_after)
    return [
        WorkerView(worker, presence_of(worker, gone_after=gone_after, now=now))
        for worker in list_workers(db)
        if worker.heartbeat_at >= horizon
    ]


def forget(db: Database, *, older_than: float) -> int:
    """Delete workers silent for over ``older_than`` seconds; returns how many."""
    with db.write() as session:
        result = session.execute(delete(Worker).where(Worker.heartbeat_at < utcnow() - timedelta(seconds=older_than)))
        return int(getattr(result, "rowcount", 0) or 0)


__all__ = ["PRESENCES", "Presence", "WorkerState", "WorkerView", "forget", "list_workers", "report", "worker_views"]

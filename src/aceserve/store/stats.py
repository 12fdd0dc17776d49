"""The deployment's shared state for the metrics' gauges, read from the database at scrape time."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import func, select

from aceserve.domain.states import ACTIVE_STATUSES, DeliveryState, TaskStatus
from aceserve.store.clock import utcnow
from aceserve.store.db import Database
from aceserve.store.models import Task, WebhookDelivery
from aceserve.store.workers import PRESENCES, worker_views
from aceserve.telemetry.metrics import SharedState


def shared_state(db: Database, *, gone_after: float, forget_after: float) -> SharedState:
    """Tasks not yet ended by status, the oldest pending task's age, workers by presence, and the
    webhook outbox by state with its most overdue delivery."""
    now = utcnow()
    with db.read() as session:
        by_status = dict.fromkeys((status.value for status in ACTIVE_STATUSES), 0)
        for status, count in session.execute(
            select(Task.status, func.count()).where(Task.status.in_(ACTIVE_STATUSES)).group_by(Task.status)
        ):
            by_status[TaskStatus(status).value] = int(count)
        oldest_pending = session.scalar(select(func.min(Task.created_at)).where(Task.status == TaskStatus.PENDING))
        deliveries = dict.fromkeys((state.value for state in DeliveryState), 0)
        for state, count in session.execute(
            select(WebhookDelivery.state, func.count()).group_by(WebhookDelivery.state)
        ):
            deliveries[DeliveryState(state).value] = int(count)
        oldest_due = session.scalar(
            select(func.min(WebhookDelivery.next_attempt_at)).where(
                WebhookDelivery.state == DeliveryState.PENDING, WebhookDelivery.next_attempt_at <= now
            )
        )
    presences = Counter(view.presence for view in worker_views(db, gone_after=gone_after, forget_after=forget_after))
    return SharedState(
        tasks_by_status=by_status,
        oldest_pending_seconds=_age(oldest_pending, now),
        workers_by_presence={presence: presences.get(presence, 0) for presence in PRESENCES},
        deliveries_by_state=deliveries,
        oldest_due_delivery_seconds=_age(oldest_due, now),
    )


def _age(since: datetime | None, now: datetime) -> float:
    if since is None:
        return 0.0
    if since.tzinfo is None:  # an aggregate may come back without the column's UTC handling
        since = since.replace(tzinfo=UTC)
    return max(0.0, (now - since).total_seconds())

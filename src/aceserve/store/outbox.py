"""Webhook outbox: events are written in the same transaction as the task change they report.

The sender (``aceserve.webhooks``) delivers them, making the payload's file paths absolute; delivery
never touches the task row.
"""

from __future__ import annotations

import time
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from aceserve.domain.states import DeliveryState
from aceserve.store.clock import opaque_id, utcnow
from aceserve.store.db import Database
from aceserve.store.models import Task, WebhookDelivery
from aceserve.store.render import render_task

PRUNE_BATCH = 500


def enqueue_task_event(session: Session, task: Task) -> WebhookDelivery | None:
    """Add a delivery of the task's current state, if the task asked for webhooks."""
    webhook = (task.config or {}).get("webhook_config") or {}
    endpoint = str(webhook.get("endpoint") or "")
    if not endpoint:
        return None
    session.flush()  # the rendered state must include pending changes (status, times, output)
    now = utcnow()
    delivery = WebhookDelivery(
        id=f"msg_{opaque_id(18)}",
        task_id=task.id,
        account_id=task.account_id,
        endpoint=endpoint,
        secret=str(webhook.get("secret") or ""),
        payload={"timestamp": int(time.time()), "data": render_task(task)},
        terminal=task.status in ("completed", "failed"),
        state="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(delivery)
    return delivery


def prune_finished(db: Database, *, created_before: datetime, batch: int = PRUNE_BATCH) -> int:
    """Delete delivered and given-up events created before ``created_before`` (their payloads and
    secrets too), ``batch`` rows per transaction. Pending events stay whatever their age: the sender
    still owes them. Returns how many were deleted."""
    outbox = WebhookDelivery
    finished = select(outbox.id).where(
        outbox.state.in_([DeliveryState.DELIVERED, DeliveryState.DEAD]), outbox.created_at < created_before
    )
    deleted = 0
    while True:
        with db.write() as session:
            ids = list(session.scalars(finished.limit(batch)))
            if ids:
                session.execute(delete(outbox).where(outbox.id.in_(ids)).execution_options(synchronize_session=False))
        deleted += len(ids)
        if len(ids) < batch:
            return deleted

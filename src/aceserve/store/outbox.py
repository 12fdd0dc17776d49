"""Webhook outbox: events are written in the same transaction as the task change they report.

The sender (``aceserve.webhooks``) delivers them, making the payload's file paths absolute; delivery
never touches the task row.
"""

from __future__ import annotations

import time

from sqlalchemy.orm import Session

from aceserve.store.clock import opaque_id, utcnow
from aceserve.store.models import Task, WebhookDelivery
from aceserve.store.render import render_task


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

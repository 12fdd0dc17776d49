"""The sender's side of the webhook outbox: lease due deliveries, record each attempt's outcome.

Rows are written by ``aceserve.store.outbox`` in the task's own transaction; this module only ever
reads ``accounts`` (for the signing secret) and reads/writes ``webhook_outbox``. It never touches
``tasks``: delivery must not change a task's state (contract §5).

Leases make concurrent senders safe: a claim sets ``lease_owner``/``lease_expires_at`` on the rows it
takes, inside one write transaction (PostgreSQL: ``FOR UPDATE SKIP LOCKED`` so senders pass over each
other's rows; SQLite: ``BEGIN IMMEDIATE`` serializes claims). A sender that dies mid-attempt leaves a
lease that expires, after which the row is claimed again (at-least-once delivery; the stable
``webhook-id`` lets receivers drop the duplicate).

Ordering per task: a delivery is not claimed while an earlier delivery of the same task is still
waiting for its first attempt or is in flight, so a receiver sees ``processing`` before ``completed``.
An earlier event whose attempt failed does not hold the later ones back; instead, once a later event
exists, a failed non-terminal event is *superseded* (dropped, never re-sent out of order): the later
event carries the newer state. A terminal event is always a task's last, so it is never superseded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, and_, case, exists, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from aceserve.domain.states import DeliveryState
from aceserve.store.clock import utcnow
from aceserve.store.db import Database
from aceserve.store.models import Account, WebhookDelivery

__all__ = ["DeliveryJob", "DeliveryState", "claim_due", "mark_delivered", "mark_failed", "next_due_at"]

MAX_ERROR_CHARS = 2000
SUPERSEDED_ERROR = "superseded: a later event of the same task exists"


@dataclass(frozen=True)
class DeliveryJob:
    """Everything one attempt needs, detached from the session that loaded it."""

    id: str  # the stable ``webhook-id``
    task_id: str
    endpoint: str
    secret: str  # the task's ``webhook_config.secret``, sent verbatim as ``x-webhook-secret``
    payload: dict[str, Any]
    attempts: int  # attempts made so far, *including* the one this claim is for (1 on the first)
    created_at: datetime
    signing_secret: str  # the account's ``whsec_`` Standard Webhooks secret
    terminal: bool
    lease_expires_at: datetime


def claim_due(
    db: Database, *, owner: str, limit: int, lease_seconds: float, now: datetime | None = None
) -> list[DeliveryJob]:
    """Lease up to ``limit`` due deliveries for ``owner`` and count the attempt.

    The attempt is counted at claim time (not when it is recorded) so a sender that crashes while
    posting still uses up an attempt. Superseded non-terminal events that are due are retired in the
    same transaction (see the module docstring).
    """
    if limit <= 0:
        return []
    now = now or utcnow()
    due = next_due_at(db)
    if due is None or due > now:
        return []  # nothing is due: no write transaction (every create wakes the senders)
    outbox = WebhookDelivery
    with db.write() as session:
        _retire_superseded(session, now)
        ids = list(
            session.scalars(
                select(outbox.id)
                .where(_claimable(now), ~_held_back_by_earlier(now))
                .order_by(outbox.next_attempt_at, outbox.created_at, outbox.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        if not ids:
            return []
        expires = now + timedelta(seconds=lease_seconds)
        session.execute(
            update(outbox)
            .where(outbox.id.in_(ids))
            .values(lease_owner=owner, lease_expires_at=expires, attempts=outbox.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        rows = session.execute(
            select(
                outbox.id,
                outbox.task_id,
                outbox.endpoint,
                outbox.secret,
                outbox.payload,
                outbox.attempts,
                outbox.created_at,
                Account.webhook_secret,
                outbox.terminal,
                outbox.lease_expires_at,
            )
            .join(Account, Account.id == outbox.account_id)
            .where(outbox.id.in_(ids))
            .order_by(outbox.next_attempt_at, outbox.created_at, outbox.id)
        ).all()
        return [
            DeliveryJob(
                id=row.id,
                task_id=row.task_id,
                endpoint=row.endpoint,
                secret=row.secret,
                payload=row.payload,
                attempts=row.attempts,
                created_at=row.created_at,
                signing_secret=row.webhook_secret,
                terminal=row.terminal,
                lease_expires_at=row.lease_expires_at,
            )
            for row in rows
        ]


def mark_delivered(
    db: Database, delivery_id: str, owner: str, status_code: int, *, now: datetime | None = None
) -> bool:
    """Record a 2xx. False when ``owner`` no longer holds the lease (another sender re-claimed it)."""
    now = now or utcnow()
    return _finish(
        db,
        delivery_id,
        owner,
        state=DeliveryState.DELIVERED,
        last_status=status_code,
        last_error="",
        delivered_at=now,
    )


def mark_failed(
    db: Database,
    delivery_id: str,
    owner: str,
    *,
    error: str,
    status_code: int | None,
    next_attempt_at: datetime | None,
) -> bool:
    """Record a failed attempt: retry at ``next_attempt_at``, or give up (``dead``) when it is None.

    False when ``owner`` no longer holds the lease.
    """
    values: dict[str, Any] = {"last_status": status_code, "last_error": error[:MAX_ERROR_CHARS]}
    if next_attempt_at is None:
        return _finish(db, delivery_id, owner, state=DeliveryState.DEAD, **values)
    return _finish(db, delivery_id, owner, state=DeliveryState.PENDING, next_attempt_at=next_attempt_at, **values)


def next_due_at(db: Database) -> datetime | None:
    """When the earliest pending delivery can next be claimed (its retry time, or its lease's end
    while it is in flight); None when nothing is pending. Lets an idle sender sleep until then."""
    outbox = WebhookDelivery
    ready_at = case(
        (
            and_(outbox.lease_expires_at.is_not(None), outbox.lease_expires_at > outbox.next_attempt_at),
            outbox.lease_expires_at,
        ),
        else_=outbox.next_attempt_at,
    )
    with db.read() as session:
        value: datetime | None = session.scalar(select(func.min(ready_at)).where(outbox.state == DeliveryState.PENDING))
        return value


def _finish(db: Database, delivery_id: str, owner: str, *, state: DeliveryState, **values: Any) -> bool:
    outbox = WebhookDelivery
    with db.write() as session:
        result = session.execute(
            update(outbox)
            .where(
                outbox.id == delivery_id,
                outbox.lease_owner == owner,
                outbox.state == DeliveryState.PENDING,
            )
            .values(state=state.value, lease_owner=None, lease_expires_at=None, **values)
            .execution_options(synchronize_session=False)
        )
        return cast(CursorResult[Any], result).rowcount == 1


def _claimable(now: datetime) -> Any:
    """Pending, due, and not leased (or its lease ran out)."""
    outbox = WebhookDelivery
    return and_(
        outbox.state == DeliveryState.PENDING,
        outbox.next_attempt_at <= now,
        or_(outbox.lease_expires_at.is_(None), outbox.lease_expires_at <= now),
    )


def _created_before(earlier: Any, later: Any) -> Any:
    """Creation order within a task; the id breaks ties between events of the same microsecond."""
    return or_(
        earlier.created_at < later.created_at,
        and_(earlier.created_at == later.created_at, earlier.id < later.id),
    )


def _held_back_by_earlier(now: datetime) -> Any:
    """An earlier event of the same task is still unsent or in flight: wait for it."""
    earlier = aliased(WebhookDelivery)
    return exists().where(
        earlier.task_id == WebhookDelivery.task_id,
        earlier.state == DeliveryState.PENDING,
        _created_before(earlier, WebhookDelivery),
        or_(earlier.attempts == 0, earlier.lease_expires_at > now),
    )


def _retire_superseded(session: Session, now: datetime) -> None:
    """Drop due, already-failed, non-terminal events that a later event of their task replaces."""
    later = aliased(WebhookDelivery)
    outbox = WebhookDelivery
    superseded = list(
        session.scalars(
            select(outbox.id)
            .where(
                _claimable(now),
                outbox.terminal.is_(False),
                outbox.attempts >= 1,
                exists().where(later.task_id == outbox.task_id, _created_before(outbox, later)),
            )
            .with_for_update(skip_locked=True)
        )
    )
    if superseded:
        session.execute(
            update(outbox)
            .where(outbox.id.in_(superseded))
            .values(
                state=DeliveryState.DEAD,
                last_error=SUPERSEDED_ERROR,
                lease_owner=None,
                lease_expires_at=None,
            )
            .execution_options(synchronize_session=False)
        )

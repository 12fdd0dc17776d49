"""Tables. The ``tasks`` table is also the queue; ``ledger`` and ``webhook_outbox`` rows are written in
the same transaction as the task change they belong to."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from aceserve.domain.states import DeliveryState, TaskStatus, TaskType, WorkerState


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        from datetime import UTC

        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        from datetime import UTC

        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def states(enum: type[StrEnum], length: int) -> Enum:
    """A column holding one of ``enum``'s values: a plain VARCHAR in the database (no native enum, no
    CHECK: adding a value needs no migration), the enum's member in Python, and an error on writing
    anything else."""
    return Enum(
        enum,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # Money in units of 1e-6 USD (the usage unit, domain.billing). None: unlimited credit.
    balance_units: Mapped[int | None] = mapped_column(BigInteger)
    frozen_units: Mapped[int] = mapped_column(BigInteger, default=0)
    max_concurrent: Mapped[int] = mapped_column(Integer)
    plan: Mapped[str] = mapped_column(String(40), default="self-hosted")
    webhook_secret: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime]


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]  # refreshed at most once a minute (``accounts.note_key_use``)


class Task(Base):
    __tablename__ = "tasks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    task_type: Mapped[TaskType] = mapped_column(states(TaskType, 16))
    status: Mapped[TaskStatus] = mapped_column(states(TaskStatus, 16))
    input: Mapped[dict[str, Any]]
    config: Mapped[dict[str, Any]]
    output: Mapped[dict[str, Any] | None]
    meta_extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    batch_hint: Mapped[str | None] = mapped_column(String(120))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    seed: Mapped[int | None] = mapped_column(BigInteger)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    frozen_units: Mapped[int] = mapped_column(BigInteger, default=0)
    consumed_units: Mapped[int] = mapped_column(BigInteger, default=0)
    error_code: Mapped[int] = mapped_column(Integer, default=0)
    error_message: Mapped[str] = mapped_column(Text, default="")
    error_raw: Mapped[str] = mapped_column(Text, default="")
    logs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    # Lease: who runs it, until when, and the fencing token every later write must present.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_token: Mapped[int] = mapped_column(BigInteger, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(80))
    lease_expires_at: Mapped[datetime | None]
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        UniqueConstraint("account_id", "idempotency_key", name="uq_tasks_account_idempotency"),
        # The claim query: oldest pending first.
        Index(
            "ix_tasks_pending_created",
            "created_at",
            "id",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        # The reaper: expired leases.
        Index(
            "ix_tasks_processing_lease",
            "lease_expires_at",
            postgresql_where=text("status = 'processing'"),
            sqlite_where=text("status = 'processing'"),
        ),
        Index("ix_tasks_account_status", "account_id", "status"),
        # The create step's queue count, with the pending index above.
        Index(
            "ix_tasks_staged_created",
            "created_at",
            "id",
            postgresql_where=text("status = 'staged'"),
            sqlite_where=text("status = 'staged'"),
        ),
        Index("ix_tasks_account_created", "account_id", "created_at"),
    )


class QueueCount(Base):
    """How many tasks wait (pending or staged): a row per account that has had waiting tasks, and the row
    ``account_id = ''`` for all of them together.

    SQLite only: triggers on ``tasks`` (migration 0006) keep it, inside the transaction of every change, so a
    create reads two rows where it would count the queue (a cost that grows with the queue). PostgreSQL
    leaves it empty and counts on its partial indexes instead: there one counter row shared by every
    account would make each create and claim wait on the same row lock until commit, and the triggers
    would take row locks in an order the code does not control."""

    __tablename__ = "queue_counts"

    account_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    waiting: Mapped[int] = mapped_column(Integer)


class LedgerEntry(Base):
    """Append-only money movements; an account's balance is the sum of its rows."""

    __tablename__ = "ledger"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    task_id: Mapped[str | None] = mapped_column(String(36), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # credit | freeze | consume | release
    # Effect on the available balance (credit +, freeze -, release +, consume 0) and on frozen.
    available_delta: Mapped[int] = mapped_column(BigInteger)
    frozen_delta: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime]


class StoredFile(Base):
    __tablename__ = "files"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # opaque, URL-safe
    account_id: Mapped[str | None] = mapped_column(ForeignKey("accounts.id"))
    task_id: Mapped[str | None] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(16))  # output | upload | input
    ext: Mapped[str] = mapped_column(String(8))
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    storage_key: Mapped[str] = mapped_column(String(200), index=True, unique=True)
    seconds: Mapped[float | None] = mapped_column(Float)  # the audio's length, when known
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class WebhookDelivery(Base):
    """Transactional outbox: one row per event, delivered by the webhook sender."""

    __tablename__ = "webhook_outbox"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # the stable `webhook-id`
    task_id: Mapped[str] = mapped_column(String(36), index=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    endpoint: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any]]
    terminal: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[DeliveryState] = mapped_column(states(DeliveryState, 16), default=DeliveryState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str] = mapped_column(Text, default="")
    last_status: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(80))
    lease_expires_at: Mapped[datetime | None]

    __table_args__ = (
        Index(
            "ix_outbox_due",
            "next_attempt_at",
            postgresql_where=text("state = 'pending'"),
            sqlite_where=text("state = 'pending'"),
        ),
    )


class Worker(Base):
    """Each worker's self-reported state, for /health."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    device: Mapped[str] = mapped_column(String(40))
    model: Mapped[str] = mapped_column(Text)
    state: Mapped[WorkerState] = mapped_column(states(WorkerState, 24))
    detail: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]

"""Builders for store tests: accounts and tasks through the real store functions."""

from __future__ import annotations

from aceserve.store import accounts
from aceserve.store.db import Database
from aceserve.store.models import Task
from aceserve.store.tasks import TaskDraft, create_task

PUBLIC_URL = "http://127.0.0.1:8000"


def make_account(
    db: Database, name: str = "acme", *, credits_usd: float | None = None, max_concurrent: int = 100
) -> str:
    with db.write() as session:
        return accounts.create_account(session, name, credits_usd=credits_usd, max_concurrent=max_concurrent).id


def make_task(
    db: Database,
    account_id: str,
    *,
    duration: int = 10,
    hint: str | None = None,
    webhook: str = "",
    key: str | None = None,
    max_queued: int = 10_000,
) -> Task:
    draft = TaskDraft(
        task_type="txt2audio",
        input={"duration": duration, "lyrics": "[inst]", "negative_style_prompt": "", "style_prompt": "rock"},
        config={"service_mode": "", "webhook_config": {"endpoint": webhook, "secret": ""}},
        frozen_units=duration * 5000,
        batch_hint=hint,
        idempotency_key=key,
    )
    with db.write() as session:
        return create_task(session, account_id, draft, public_url=PUBLIC_URL, max_queued=max_queued).task


def reload(db: Database, task_id: str) -> Task:
    with db.read() as session:
        task = session.get(Task, task_id)
        assert task is not None
        return task

"""Builders for store tests: accounts and tasks through the real store functions."""

from __future__ import annotations

import threading
from collections.abc import Callable

from aceserve.domain.errors import InsufficientCredit
from aceserve.store import accounts, queue
from aceserve.store.db import Database
from aceserve.store.files import new_file_record
from aceserve.store.models import Task
from aceserve.store.tasks import TaskDraft, create_task


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
        frozen_units=duration * 500,
        batch_hint=hint,
        idempotency_key=key,
    )
    if webhook:  # a webhook event is an ORM row: the create runs in a session, as the API's does
        with db.write() as session:
            return create_task(session, account_id, draft, max_queued=max_queued).task
    with db.raw_write() as writes:  # as the API creates a task without files or webhooks
        created = create_task(writes, account_id, draft, max_queued=max_queued)
    return reload(db, created.row.id)


def reload(db: Database, task_id: str) -> Task:
    with db.read() as session:
        task = session.get(Task, task_id)
        assert task is not None
        return task


def complete(db: Database, lease: queue.Lease, *, seconds: float = 10) -> bool:
    """Complete a leased task with a stand-in output record, as a worker would after storing audio."""
    record = new_file_record(
        kind="output", ext="mp3", content_type="audio/mpeg", size=1, retention_hours=1, account_id=lease.account_id
    )
    return queue.complete(
        db,
        lease,
        output={"audio_url": f"/files/{record.id}.mp3"},
        seconds=seconds,
        price_usd_per_second=0.0005,
        file=record,
        meta={},
    )


def create_in_parallel(
    database: Database, create: Callable[[Database], str], *, threads: int = 10, each: int = 5
) -> tuple[list[str], list[InsufficientCredit]]:
    """``threads`` threads, each with a database of its own (as so many processes would hold), start at once
    and call ``create`` ``each`` times: the task ids accepted and the 402s refused."""
    accepted: list[str] = []
    refused: list[InsufficientCredit] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def run() -> None:
        other = Database(database.url)
        barrier.wait()
        try:
            for _ in range(each):
                try:
                    task_id = create(other)
                    with lock:
                        accepted.append(task_id)
                except InsufficientCredit as error:
                    with lock:
                        refused.append(error)
        finally:
            other.dispose()

    runners = [threading.Thread(target=run) for _ in range(threads)]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join()
    return accepted, refused

"""Raw write transactions (``Database.raw_write``), the create path of a task without files or webhooks:
they commit or roll back as a session's transaction does, say what happened only after the commit, and
keep every guarantee of the create."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from aceserve.domain.errors import InsufficientCredit, Unauthorized
from aceserve.domain.states import TaskType
from aceserve.store import accounts
from aceserve.store import db as db_module
from aceserve.store.db import Database, WriterBusy, after_commit
from aceserve.store.models import Account, LedgerEntry, Task
from aceserve.store.tasks import TaskDraft, create_task
from tests.store.helpers import create_in_parallel, make_account


def draft(*, key: str | None = None, units: int = 5_000, webhook: str = "") -> TaskDraft:
    return TaskDraft(
        task_type=TaskType.TXT2AUDIO,
        input={"style_prompt": "rock", "duration": 10},
        config={"service_mode": "", "webhook_config": {"endpoint": webhook, "secret": ""}},
        frozen_units=units,
        idempotency_key=key,
    )


def counts(database: Database, account_id: str) -> tuple[int, int]:
    with database.read() as session:
        found = session.scalar(select(func.count()).select_from(Task).where(Task.account_id == account_id))
        ledger = session.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.account_id == account_id)
        )
    return int(found or 0), int(ledger or 0)


def test_a_commit_runs_the_callbacks_after_it_and_a_rollback_drops_them_and_its_writes(database: Database) -> None:
    account = make_account(database, credits_usd=1)
    said: list[str] = []
    with database.raw_write() as writes:
        created = create_task(writes, account, draft(), max_queued=100)
        after_commit(writes, lambda: said.append(f"committed {created.row.id}"))
        assert said == []
    assert said == [f"committed {created.row.id}"]
    assert counts(database, account) == (1, 2)  # the task; the credit's and the freeze's ledger rows

    with pytest.raises(RuntimeError, match="later failure"), database.raw_write() as writes:
        create_task(writes, account, draft(), max_queued=100)
        after_commit(writes, lambda: said.append("never"))
        raise RuntimeError("a later failure")
    assert said == [f"committed {created.row.id}"]
    assert counts(database, account) == (1, 2)
    with database.read() as session:
        balance = session.get(Account, account)
        assert balance is not None and balance.frozen_units == 5_000

    with database.raw_write() as writes:  # the connection that rolled back serves the next transaction
        create_task(writes, account, draft(), max_queued=100)
    assert counts(database, account) == (2, 3)


def test_refusals_inside_the_transaction_leave_nothing(database: Database) -> None:
    account = make_account(database, credits_usd=0.001)
    with database.write() as session:
        found = session.get(Account, account)
        assert found is not None
        key = accounts.create_key(session, found)
        accounts.revoke_key(session, key.secret[:12])
    with pytest.raises(Unauthorized), database.raw_write() as writes:
        create_task(writes, account, draft(), max_queued=100, key_hash=accounts.hash_key(key.secret))
    with pytest.raises(InsufficientCredit), database.raw_write() as writes:
        create_task(writes, account, draft(units=10**9), max_queued=100)
    assert counts(database, account) == (0, 1)


def test_a_repeated_idempotency_key_returns_the_earlier_task_rendered(database: Database) -> None:
    account = make_account(database)
    with database.raw_write() as writes:
        first = create_task(writes, account, draft(key="order-1"), max_queued=100)
    with database.raw_write() as writes:
        again = create_task(writes, account, draft(key="order-1", units=9_000), max_queued=100)
    assert first.created and not again.created
    assert again.render()["task_id"] == first.render()["task_id"]
    assert again.render()["input"] == first.render()["input"]
    assert counts(database, account)[0] == 1


def test_a_draft_with_webhooks_needs_a_session(database: Database) -> None:
    account = make_account(database)
    with pytest.raises(TypeError, match="session"), database.raw_write() as writes:
        create_task(writes, account, draft(webhook="https://example.com/hook"), max_queued=100)
    with database.write() as session:
        created = create_task(session, account, draft(webhook="https://example.com/hook"), max_queued=100)
        assert created.task.id == created.render()["task_id"]


def sqlite_file(database: Database) -> str:
    return str(database.engine.url.database)


def test_a_write_that_must_not_wait_is_refused_while_another_writer_holds_the_lock(database: Database) -> None:
    if database.is_postgres:
        with pytest.raises(WriterBusy), database.raw_write(wait=False):
            pass  # PostgreSQL's creates always wait (each statement is a round trip: never on the event loop)
        return
    account = make_account(database)
    other = sqlite3.connect(sqlite_file(database), isolation_level=None)  # as another process would
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(WriterBusy, match="another process"), database.raw_write(wait=False) as writes:
        create_task(writes, account, draft(), max_queued=100)
    other.execute("ROLLBACK")
    other.close()

    holding, release = threading.Event(), threading.Event()

    def hold_this_process_lock() -> None:
        with database.raw_write():  # this process's other writer (a worker thread, the janitor)
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold_this_process_lock)
    holder.start()
    assert holding.wait(10)
    with pytest.raises(WriterBusy, match="this process"), database.raw_write(wait=False) as writes:
        create_task(writes, account, draft(), max_queued=100)
    release.set()
    holder.join(10)
    assert counts(database, account)[0] == 0

    said: list[str] = []
    with database.raw_write(wait=False) as writes:  # free again: it runs, and says so after its commit
        create_task(writes, account, draft(), max_queued=100)
        after_commit(writes, lambda: said.append("committed"))
    assert said == ["committed"] and counts(database, account)[0] == 1


def test_writes_that_never_wait_checkpoint_the_wal_so_it_stops_growing(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """They never checkpoint at commit (that may sync the file on the event loop); every CHECKPOINT_EVERY
    commits a thread does, and the WAL starts over instead of growing with every create."""
    if database.is_postgres:
        pytest.skip("SQLite's write-ahead log")
    monkeypatch.setattr(db_module, "CHECKPOINT_EVERY", 20)
    account = make_account(database)
    wal = Path(sqlite_file(database) + "-wal")

    def create_many(count: int) -> None:
        made = 0
        while made < count:
            try:
                with database.raw_write(wait=False) as writes:
                    create_task(writes, account, draft(units=1), max_queued=10_000)
                made += 1
            except WriterBusy:  # the checkpoint holds the lock: as the API does, try again shortly
                time.sleep(0.001)
        deadline = time.monotonic() + 10
        while database._nowait is not None and database._nowait._checkpointing.locked():
            assert time.monotonic() < deadline, "the checkpoint did not finish"
            time.sleep(0.01)

    create_many(40)
    size = wal.stat().st_size
    create_many(200)
    assert wal.stat().st_size <= size * 1.5, "the WAL kept growing: no checkpoint caught up"
    with database.read() as session:  # every create is in the database
        assert session.scalar(select(func.count()).select_from(Task).where(Task.account_id == account)) == 240


def test_creates_that_never_wait_from_many_processes_never_overdraw(database: Database) -> None:
    """Ten databases (as ten API processes would hold) create without waiting, trying again when refused:
    exactly the credit's worth is accepted, and the ledger adds up."""
    if database.is_postgres:
        pytest.skip("PostgreSQL's creates always wait")
    account = make_account(database, credits_usd=10 * 5_000 / 1e6)  # exactly ten tasks

    def create(other: Database) -> str:
        while True:
            try:
                with other.raw_write(wait=False) as writes:
                    return str(create_task(writes, account, draft(), max_queued=1000).row.id)
            except WriterBusy:
                time.sleep(0.001)

    accepted, refused = create_in_parallel(database, create)
    assert len(accepted) == 10 and len(refused) == 40
    assert counts(database, account) == (10, 11)  # the credit and ten freezes
    with database.read() as session:
        found = session.get(Account, account)
        assert found is not None and (found.balance_units, found.frozen_units) == (0, 50_000)
        assert accounts.ledger_sums(session, account) == (0, 50_000)


def test_a_busy_statement_inside_a_write_that_never_waits_rolls_it_back_as_writer_busy(database: Database) -> None:
    """Holding the write lock, SQLite refuses a statement as busy only while another connection recovers the
    WAL after a crash (not something a test can stage): the driver's error, raised inside the transaction,
    rolls back what was written and is told as ``WriterBusy``, so the API tries the create again."""
    if database.is_postgres:
        pytest.skip("SQLite's busy error")
    account = make_account(database)
    with pytest.raises(WriterBusy, match="recovering"), database.raw_write(wait=False) as writes:
        create_task(writes, account, draft(), max_queued=100)
        raise sqlite3.OperationalError("database is locked")
    with pytest.raises(sqlite3.OperationalError, match="no such table"), database.raw_write(wait=False) as writes:
        writes.cursor.execute("SELECT * FROM no_such_table")  # any other error is itself
    assert counts(database, account) == (0, 0)  # unlimited credit: a freeze is the only ledger row
    with database.raw_write(wait=False) as writes:
        create_task(writes, account, draft(), max_queued=100)
    assert counts(database, account) == (1, 1)

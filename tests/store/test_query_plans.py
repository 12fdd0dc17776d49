"""The queue's hot queries stay on their partial indexes (PostgreSQL planner; SQLite's EXPLAIN QUERY PLAN)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from aceserve.store import fairness, queue, tasks
from aceserve.store.db import Database
from tests.store.helpers import make_account, make_task


def explain(database: Database, statement: Any) -> str:
    compiled = statement.compile(database.engine, compile_kwargs={"literal_binds": True})
    with database.engine.connect() as conn:
        if database.is_postgres:
            conn.exec_driver_sql("SET enable_seqscan = off")  # tiny tables: ask whether an index *can* serve it
            rows = conn.execute(text(f"EXPLAIN {compiled}")).all()
        else:
            rows = conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}")).all()
    return "\n".join(str(row[-1]) for row in rows)


def test_claim_query_reads_only_the_queue(database: Database) -> None:
    account = make_account(database)
    for _ in range(5):
        make_task(database, account)
    plan = explain(database, fairness.fair_pending(queue.CLAIM_CANDIDATES))
    # the pending tasks through their partial index; each account's running ones through an index too
    assert "ix_tasks_pending_created" in plan, plan
    assert "ix_tasks_account_status" in plan or "ix_tasks_processing_lease" in plan, plan
    if not database.is_postgres:  # never a walk of every task ever run
        assert "SCAN running" not in plan and "ix_tasks_account_created" not in plan, plan


def test_reaper_query_uses_the_processing_lease_index(database: Database) -> None:
    plan = explain(database, queue.expired_query())
    assert "ix_tasks_processing_lease" in plan, plan


def test_create_checks_read_the_queue_length_without_walking_the_queue(database: Database) -> None:
    """SQLite reads the two rows of ``queue_counts`` its triggers keep; PostgreSQL counts on the partial
    indexes, each count stopping at its limit."""
    account = make_account(database)
    for _ in range(5):
        make_task(database, account)
    query = tasks.create_checks_query(account, "repeat", "0" * 64, 1000, dialect=database.engine.dialect)
    plan = explain(database, query)
    if database.is_postgres:
        assert "ix_tasks_pending_created" in plan and "ix_tasks_staged_created" in plan, plan
    else:
        assert "queue_counts USING INDEX sqlite_autoindex_queue_counts_1 (account_id=?)" in plan, plan
        assert "ix_tasks_pending_created" not in plan and "ix_tasks_staged_created" not in plan, plan


def test_the_poll_reads_key_and_task_by_their_unique_indexes(database: Database) -> None:
    account = make_account(database)
    task = make_task(database, account)
    plan = explain(database, tasks.KEYED_TASK_QUERY.params(key_hash="0" * 64, task_id=task.id))
    assert "ix_tasks_pending_created" in plan, plan  # the queue position ranks only the pending tasks
    if not database.is_postgres:  # tiny tables: PostgreSQL's plan may differ, and says so less plainly
        assert "tasks_1 (id=?)" in plan and "api_keys_2 (key_hash=?)" in plan, plan
        assert "ix_tasks_account_created" not in plan, "the position must not walk an account's finished history"

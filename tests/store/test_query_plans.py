"""The queue's hot queries stay on their partial indexes (PostgreSQL planner; SQLite's EXPLAIN QUERY PLAN)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from aceserve.store import fairness, queue
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


def test_claim_query_reads_the_queue_through_the_account_status_index(database: Database) -> None:
    account = make_account(database)
    for _ in range(5):
        make_task(database, account)
    plan = explain(database, fairness.fair_pending(queue.CLAIM_CANDIDATES))
    assert "ix_tasks_account_status" in plan, plan


def test_reaper_query_uses_the_processing_lease_index(database: Database) -> None:
    plan = explain(database, queue.expired_query())
    assert "ix_tasks_processing_lease" in plan, plan

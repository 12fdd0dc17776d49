"""The create's queue limits see the true number of waiting tasks (pending or staged) after every kind of
change, on both databases: SQLite reads ``queue_counts`` (kept by triggers), PostgreSQL counts."""

from __future__ import annotations

from sqlalchemy import delete, func, select, text

from aceserve.store import queue, tasks
from aceserve.store.db import Database
from aceserve.store.migrate import upgrade
from aceserve.store.models import QueueCount, Task
from tests.store.helpers import complete, make_account, make_task

WAITING = ("pending", "staged")


def true_counts(database: Database, account_id: str) -> tuple[int, int]:
    """(waiting in all, waiting of the account), counted row by row."""
    with database.read() as session:
        waiting = Task.status.in_(WAITING)
        total = session.scalar(select(func.count()).select_from(Task).where(waiting))
        own = session.scalar(select(func.count()).select_from(Task).where(waiting, Task.account_id == account_id))
    return int(total or 0), int(own or 0)


def refusals(database: Database, account_id: str, *, max_queued: int, max_waiting: int) -> tuple[bool, bool]:
    """What the create decides at these limits: (the queue is full, the account's share is full)."""
    query = tasks.create_checks_query(
        account_id, None, None, max_queued, dialect=database.engine.dialect, max_waiting=max_waiting
    )
    with database.read() as session:
        queued, _running, waiting = session.execute(query).one()
    return queued >= max_queued, waiting >= max_waiting


def assert_limits_see_the_truth(database: Database, account_ids: list[str]) -> None:
    for account_id in account_ids:
        total, own = true_counts(database, account_id)
        for max_queued, max_waiting in [(total, own), (total + 1, own + 1), (total + 1, own), (total, own + 1)]:
            if max_queued < 1 or max_waiting < 1:
                continue
            expected = (total >= max_queued, own >= max_waiting)
            assert refusals(database, account_id, max_queued=max_queued, max_waiting=max_waiting) == expected, (
                account_id,
                max_queued,
                max_waiting,
            )
    if not database.is_postgres:
        with database.read() as session:
            kept = dict(session.execute(select(QueueCount.account_id, QueueCount.waiting)).tuples().all())
        assert kept.get("", 0) == true_counts(database, account_ids[0])[0]
        for account_id in account_ids:
            assert kept.get(account_id, 0) == true_counts(database, account_id)[1]


def test_every_change_of_a_task_moves_the_counts_the_limits_read(database: Database) -> None:
    slow = make_account(database, "slow", max_concurrent=2)
    busy = make_account(database, "busy", max_concurrent=10)
    accounts = [slow, busy]
    made = [make_task(database, slow) for _ in range(5)]  # two pending, three staged
    made += [make_task(database, busy, webhook="https://example.com/hook") for _ in range(2)]  # ORM creates
    assert [task.status for task in made[:5]] == ["pending", "pending", "staged", "staged", "staged"]
    assert_limits_see_the_truth(database, accounts)

    leases = [lease for _ in range(3) for lease in queue.claim(database, owner="w", lease_seconds=60)]
    assert len(leases) == 3  # pending to processing
    assert_limits_see_the_truth(database, accounts)

    assert complete(database, leases[0])  # a finished task lets a staged one of its account start
    assert_limits_see_the_truth(database, accounts)

    with database.write() as session:  # cancelling a waiting task ends it at once
        tasks.cancel_task(session, slow, made[4].id)
    assert_limits_see_the_truth(database, accounts)

    queue.release(database, leases[1])  # back to pending (a worker shutting down)
    queue.fail(database, leases[2], message="boom", retryable=False, max_attempts=3)
    assert_limits_see_the_truth(database, accounts)

    with database.write() as session:  # rows changed and removed outside the store's functions
        session.execute(text("UPDATE tasks SET status = 'failed' WHERE account_id = :id"), {"id": busy})
        session.execute(delete(Task).where(Task.id == made[3].id))
    assert_limits_see_the_truth(database, accounts)


def test_the_migration_counts_the_tasks_that_wait_already(database: Database) -> None:
    from alembic import command

    from aceserve.store.migrate import alembic_config

    account = make_account(database, max_concurrent=1)
    for _ in range(3):
        make_task(database, account)  # one pending, two staged
    config = alembic_config(database.engine)
    with database.engine.begin() as connection:  # before the counts were kept
        config.attributes["connection"] = connection
        command.downgrade(config, "0005")
        connection.execute(text("UPDATE tasks SET status = 'processing' WHERE status = 'pending'"))
    upgrade(database.engine)
    make_task(database, account)
    assert_limits_see_the_truth(database, [account])

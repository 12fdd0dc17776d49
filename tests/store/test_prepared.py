"""Prepared reads (the API's hot path) return what the same statement returns through SQLAlchemy, and
survive a connection the database dropped."""

from __future__ import annotations

from aceserve.store import accounts, queue, tasks
from aceserve.store.db import Database
from aceserve.store.models import Account, Task
from tests.store.helpers import complete, make_account, make_task


def new_key(database: Database, account_id: str) -> accounts.NewKey:
    with database.write() as session:
        account = session.get(Account, account_id)
        assert account is not None
        return accounts.create_key(session, account)


def core_row(database: Database, statement: object, params: dict[str, object]) -> tuple[object, ...] | None:
    with database.query() as connection:
        row = connection.execute(statement, params).first()  # type: ignore[call-overload]
    return None if row is None else tuple(row)


def test_a_prepared_read_returns_the_rows_sqlalchemy_returns(database: Database) -> None:
    account = make_account(database)
    key = new_key(database, account)
    key_hash = accounts.hash_key(key.secret)
    done = make_task(database, account)
    (lease,) = queue.claim(database, owner="w", lease_seconds=60)
    assert lease.task_id == done.id
    assert complete(database, lease)
    waiting = [make_task(database, account) for _ in range(3)]
    for task in [done, *waiting]:
        params = {"key_hash": key_hash, "task_id": task.id}
        prepared = database.prepared(tasks.KEYED_TASK_QUERY).first(params)
        assert prepared is not None
        assert tuple(prepared) == core_row(database, tasks.KEYED_TASK_QUERY, params)
        assert [type(value) for value in prepared] == [
            type(value) for value in core_row(database, tasks.KEYED_TASK_QUERY, params) or ()
        ]
    assert database.prepared(tasks.KEYED_TASK_QUERY).first({"key_hash": key_hash, "task_id": waiting[2].id}) is not None
    found = tasks.read_for_key(database, key_hash, waiting[2].id)
    assert found.account_id == account and found.queue_position == 3
    assert found.task.output is None and found.task.status == "pending"
    assert tasks.read_for_key(database, key_hash, done.id).task.output == reload_output(database, done.id)
    assert tasks.read_for_key(database, "0" * 64, done.id).account_id is None
    assert tasks.read_for_key(database, key_hash, "not-a-task").task is None


def reload_output(database: Database, task_id: str) -> object:
    with database.read() as session:
        task = session.get(Task, task_id)
        assert task is not None
        return task.output


def test_a_revoked_key_reads_nothing_at_once(database: Database) -> None:
    account = make_account(database)
    key = new_key(database, account)
    task = make_task(database, account)
    key_hash = accounts.hash_key(key.secret)
    assert tasks.read_for_key(database, key_hash, task.id).task is not None
    with database.write() as session:
        accounts.revoke_key(session, key.secret[:12])
    assert tasks.read_for_key(database, key_hash, task.id).account_id is None
    assert accounts.live_key(database, key_hash) is None


def test_a_read_on_a_connection_the_database_dropped_is_retried_on_a_new_one(database: Database) -> None:
    account = make_account(database)
    task = make_task(database, account)
    read = database.prepared(tasks.ACCOUNT_TASK_QUERY)
    params = {"account_id": account, "task_id": task.id}
    assert read.first(params) is not None
    connections = read.connections
    [kept] = list(connections._idle)
    if database.is_postgres:  # the server ends the session, as a restart would
        pid = kept.dbapi_connection.info.backend_pid
        with database.query() as connection:
            connection.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
    else:
        kept.dbapi_connection.close()
    row = read.first(params)
    assert row is not None and row.id == task.id
    assert kept not in connections._idle

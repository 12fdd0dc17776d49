from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from sqlalchemy.exc import StatementError

from aceserve.domain.errors import StaleLease
from aceserve.domain.states import TaskStatus
from aceserve.store import queue
from aceserve.store.db import Database
from aceserve.store.models import Task
from aceserve.store.tasks import cancel_task
from tests.store.helpers import complete, make_account, make_task, reload


def _claim(db: Database, owner: str = "w1", lease: float = 60, batch: int = 1) -> list[queue.Lease]:
    return queue.claim(db, owner=owner, lease_seconds=lease, max_batch=batch)


def test_claim_takes_oldest_pending_first(database: Database) -> None:
    account = make_account(database)
    first = make_task(database, account)
    make_task(database, account)
    (lease,) = _claim(database)
    assert lease.task_id == first.id
    task = reload(database, first.id)
    assert task.status == "processing" and task.lease_owner == "w1" and task.attempts == 1


def test_two_workers_never_run_one_task(database: Database) -> None:
    account = make_account(database)
    ids = {make_task(database, account).id for _ in range(20)}
    claimed: list[str] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        other = Database(database.url)
        try:
            while True:
                leases = _claim(other, owner=name)
                if not leases:
                    return
                with lock:
                    claimed.extend(lease.task_id for lease in leases)
        finally:
            other.dispose()

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Counter(claimed).most_common(1)[0][1] == 1
    assert set(claimed) == ids


def test_batch_claim_takes_only_tasks_sharing_the_hint(database: Database) -> None:
    account = make_account(database)
    a = make_task(database, account, hint="txt2audio:10")
    make_task(database, account, hint="txt2audio:30")
    c = make_task(database, account, hint="txt2audio:10")
    leases = _claim(database, batch=4)
    assert [lease.task_id for lease in leases] == [a.id, c.id]


def test_expired_lease_is_rerun_and_stale_worker_is_fenced_off(database: Database) -> None:
    account = make_account(database)
    task = make_task(database, account)
    (stale,) = _claim(database, owner="dead", lease=0.05)
    time.sleep(0.1)
    assert queue.reap_expired(database, max_attempts=3) == 1
    assert reload(database, task.id).status == "pending"
    (fresh,) = _claim(database, owner="alive")
    assert fresh.token > stale.token and fresh.attempts == 2
    with pytest.raises(StaleLease):
        queue.heartbeat(database, stale, lease_seconds=60)
    with pytest.raises(StaleLease):
        complete(database, stale)
    complete(database, fresh)
    done = reload(database, task.id)
    assert done.status == "completed" and done.consumed_units == 5_000 and done.frozen_units == 0


def test_reaper_gives_up_after_max_attempts(database: Database) -> None:
    account = make_account(database)
    task = make_task(database, account)
    for _ in range(2):
        _claim(database, lease=0.01)
        time.sleep(0.05)
        queue.reap_expired(database, max_attempts=2)
    failed = reload(database, task.id)
    assert failed.status == "failed" and failed.error_code == 500
    assert "stopped responding" in failed.error_message


def test_input_errors_fail_at_once_but_infrastructure_errors_retry(database: Database) -> None:
    account = make_account(database)
    bad = make_task(database, account)
    flaky = make_task(database, account)
    lease_bad, lease_flaky = _claim(database, batch=1) + _claim(database, batch=1)
    assert not queue.fail(database, lease_bad, message="not audio", retryable=False, max_attempts=3)
    assert queue.fail(database, lease_flaky, message="cuda oom", retryable=True, max_attempts=3)
    assert reload(database, bad.id).status == "failed"
    assert reload(database, bad.id).error_message == "not audio"
    assert reload(database, flaky.id).status == "pending"


def test_cancel_pending_task_ends_it_and_releases_credit(database: Database) -> None:
    account = make_account(database, credits_usd=1.0)
    task = make_task(database, account)
    with database.write() as session:
        cancel_task(session, account, task.id)
    cancelled = reload(database, task.id)
    assert cancelled.status == "failed" and "cancelled" in cancelled.error_message
    assert cancelled.frozen_units == 0 and cancelled.consumed_units == 0
    assert _claim(database) == []


def test_cancel_running_task_is_seen_by_its_worker_heartbeat(database: Database) -> None:
    account = make_account(database)
    task = make_task(database, account)
    (lease,) = _claim(database)
    assert not queue.heartbeat(database, lease, lease_seconds=60).cancel_requested
    with database.write() as session:
        cancel_task(session, account, task.id)
    assert reload(database, task.id).status == "processing"
    assert queue.heartbeat(database, lease, lease_seconds=60).cancel_requested
    queue.finish_cancelled(database, lease)
    assert reload(database, task.id).status == "failed"


def test_heartbeat_records_monotonic_progress(database: Database) -> None:
    account = make_account(database)
    task = make_task(database, account)
    (lease,) = _claim(database)
    queue.heartbeat(database, lease, lease_seconds=60, progress=0.5)
    queue.heartbeat(database, lease, lease_seconds=60, progress=0.25)
    assert reload(database, task.id).progress == 0.5


def test_released_task_is_pending_again_without_using_an_attempt(database: Database) -> None:
    account = make_account(database)
    task = make_task(database, account)
    (lease,) = _claim(database)
    queue.release(database, lease)
    again = reload(database, task.id)
    assert again.status == "pending" and again.attempts == 0


def test_ending_a_task_locks_the_account_before_the_task(database: Database) -> None:
    """Cancel locks account then task; a worker ending the task must take them in the same order,
    or the two deadlock on PostgreSQL."""
    from sqlalchemy import event

    account = make_account(database)
    make_task(database, account)
    (lease,) = _claim(database)
    statements: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    event.listen(database.engine, "before_cursor_execute", record)
    try:
        complete(database, lease)
    finally:
        event.remove(database.engine, "before_cursor_execute", record)
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    first_account = next(i for i, s in enumerate(reads) if "FROM accounts" in s)
    first_task = next(i for i, s in enumerate(reads) if "FROM tasks" in s)
    assert first_account < first_task, reads


def test_a_cancel_that_arrives_while_the_output_is_stored_wins(database: Database) -> None:
    account = make_account(database, credits_usd=1.0)
    task = make_task(database, account)
    (lease,) = _claim(database)
    with database.write() as session:
        cancel_task(session, account, task.id)
    completed = complete(database, lease)
    ended = reload(database, task.id)
    assert not completed and ended.status == "failed" and "cancelled" in ended.error_message
    assert ended.consumed_units == 0 and ended.output is None


@pytest.mark.parametrize("ending", ["fail", "release"])
def test_a_cancelled_task_is_not_requeued(database: Database, ending: str) -> None:
    account = make_account(database)
    task = make_task(database, account)
    (lease,) = _claim(database)
    with database.write() as session:
        cancel_task(session, account, task.id)
    if ending == "fail":
        queue.fail(database, lease, message="oom", retryable=True, max_attempts=3)
    else:
        queue.release(database, lease)
    assert reload(database, task.id).status == "failed"
    assert _claim(database) == []


def test_a_requeued_task_shows_no_start_time(database: Database) -> None:
    account = make_account(database)
    task = make_task(database, account)
    (lease,) = _claim(database)
    queue.fail(database, lease, message="oom", retryable=True, max_attempts=3)
    again = reload(database, task.id)
    assert again.status == "pending" and again.started_at is None


def test_task_states_are_a_closed_set_in_the_database_too(database: Database) -> None:
    task = make_task(database, make_account(database))
    assert reload(database, task.id).status is TaskStatus.PENDING  # read back as the enum
    with pytest.raises(StatementError, match="cancelled"), database.write() as session:
        row = session.get(Task, task.id)
        assert row is not None
        row.status = "cancelled"  # type: ignore[assignment]

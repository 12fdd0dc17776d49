"""Credit: freeze at create, consume on completion, release on failure or cancel; the ledger always
adds up to the balance (contract §7)."""

from __future__ import annotations

import random
import time

import pytest

from aceserve.domain.errors import InsufficientCredit, TooManyRequests
from aceserve.store import accounts, queue
from aceserve.store.db import Database
from aceserve.store.models import Account
from aceserve.store.tasks import cancel_task
from tests.store.helpers import complete, create_in_parallel, make_account, make_task, reload


def balances(db: Database, account_id: str) -> tuple[int | None, int, tuple[int, int]]:
    with db.read() as session:
        account = session.get(Account, account_id)
        assert account is not None
        return account.balance_units, account.frozen_units, accounts.ledger_sums(session, account_id)


def assert_ledger_matches(db: Database, account_id: str) -> None:
    balance, frozen, (available_sum, frozen_sum) = balances(db, account_id)
    assert balance == available_sum and frozen == frozen_sum


def test_create_freezes_and_completion_consumes_actual_seconds(database: Database) -> None:
    account = make_account(database, credits_usd=1.0)  # 1_000_000 units
    task = make_task(database, account, duration=20)  # freezes 10_000
    assert balances(database, account)[:2] == (990_000, 10_000)
    (lease,) = queue.claim(database, owner="w", lease_seconds=60)
    complete(database, lease, seconds=12.5)
    done = reload(database, task.id)
    assert (done.frozen_units, done.consumed_units) == (0, 6_250)
    assert balances(database, account)[:2] == (1_000_000 - 6_250, 0)
    assert_ledger_matches(database, account)


def test_insufficient_credit_is_refused_and_leaves_nothing(database: Database) -> None:
    account = make_account(database, credits_usd=0.004)  # 4_000 units: covers 8 s
    with pytest.raises(InsufficientCredit, match="Insufficient credit"):
        make_task(database, account, duration=10)
    assert balances(database, account)[:2] == (4_000, 0)
    assert_ledger_matches(database, account)


def test_parallel_creates_never_overdraw(database: Database) -> None:
    account = make_account(database, credits_usd=10 * 10 * 500 / 1e6)  # exactly ten 10-second tasks
    accepted, refused = create_in_parallel(database, lambda other: make_task(other, account, duration=10).id)
    assert len(accepted) == 10 and len(refused) == 40
    assert balances(database, account)[:2] == (0, 50_000)
    assert_ledger_matches(database, account)


def test_staged_tasks_start_in_creation_order_as_slots_free(database: Database) -> None:
    account = make_account(database, max_concurrent=2)
    tasks = [make_task(database, account) for _ in range(5)]
    assert [reload(database, t.id).status for t in tasks] == ["pending", "pending", "staged", "staged", "staged"]
    (lease,) = queue.claim(database, owner="w", lease_seconds=60)
    queue.fail(database, lease, message="bad", retryable=False, max_attempts=1)
    assert [reload(database, t.id).status for t in tasks[1:]] == ["pending", "pending", "staged", "staged"]
    with database.write() as session:
        cancel_task(session, account, tasks[1].id)
    assert [reload(database, t.id).status for t in tasks[2:]] == ["pending", "pending", "staged"]


def test_queue_cap_answers_429(database: Database) -> None:
    account = make_account(database)
    make_task(database, account, max_queued=1)
    with pytest.raises(TooManyRequests) as excinfo:
        make_task(database, account, max_queued=1)
    assert excinfo.value.retry_after > 0


def test_ledger_invariant_holds_over_random_lifecycles(database: Database) -> None:
    rng = random.Random(7)
    account = make_account(database, credits_usd=0.5, max_concurrent=3)
    for _ in range(60):
        action = rng.choice(["create", "create", "claim_complete", "claim_fail", "cancel", "expire"])
        try:
            if action == "create":
                make_task(database, account, duration=rng.choice([10, 30, 60]))
            elif action in ("claim_complete", "claim_fail", "expire"):
                leases = queue.claim(database, owner="w", lease_seconds=0.01 if action == "expire" else 60)
                for lease in leases:
                    if action == "claim_complete":
                        complete(database, lease, seconds=rng.uniform(1, 10))
                    elif action == "claim_fail":
                        queue.fail(
                            database,
                            lease,
                            message="x",
                            retryable=rng.random() < 0.5,
                            max_attempts=2,
                        )
                if action == "expire":
                    time.sleep(0.02)
                    queue.reap_expired(database, max_attempts=2)
            else:
                with database.read() as session:
                    from sqlalchemy import select

                    from aceserve.store.models import Task

                    ids = session.scalars(
                        select(Task.id).where(Task.status.in_(["staged", "pending", "processing"]))
                    ).all()
                if ids:
                    with database.write() as session:
                        cancel_task(session, account, rng.choice(ids))
        except InsufficientCredit:
            pass
        assert_ledger_matches(database, account)
        balance, frozen, _ = balances(database, account)
        assert balance is not None and balance >= 0 and frozen >= 0

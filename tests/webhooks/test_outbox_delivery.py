"""Store side of the sender: leases, attempt counting, ownership checks, ordering, next due time."""

from __future__ import annotations

import threading
from datetime import timedelta

from aceserve.store.clock import utcnow
from aceserve.store.db import Database
from aceserve.store.outbox_delivery import (
    SUPERSEDED_ERROR,
    claim_due,
    mark_delivered,
    mark_failed,
    next_due_at,
)
from tests.webhooks.helpers import insert_account, insert_delivery, insert_task, load_delivery

URL = "http://127.0.0.1:9/hook"


def _one(db: Database, *, status: str = "completed") -> tuple[str, str]:
    account_id, signing = insert_account(db)
    task_id = insert_task(db, account_id, endpoint=URL)
    return insert_delivery(db, task_id, account_id, endpoint=URL, secret="s", status=status), signing


def test_claim_leases_a_due_row_counts_the_attempt_and_carries_what_sending_needs(database: Database) -> None:
    delivery_id, signing = _one(database)
    [job] = claim_due(database, owner="a", limit=10, lease_seconds=60)
    assert (job.id, job.endpoint, job.secret, job.signing_secret) == (delivery_id, URL, "s", signing)
    assert job.attempts == 1 and job.terminal and job.payload["data"]["status"] == "completed"
    row = load_delivery(database, delivery_id)
    assert row.lease_owner == "a" and row.attempts == 1 and row.state == "pending"


def test_a_leased_row_is_not_claimed_again_until_its_lease_expires(database: Database) -> None:
    delivery_id, _ = _one(database)
    assert len(claim_due(database, owner="a", limit=10, lease_seconds=60)) == 1
    assert claim_due(database, owner="b", limit=10, lease_seconds=60) == []
    later = utcnow() + timedelta(seconds=61)
    [job] = claim_due(database, owner="b", limit=10, lease_seconds=60, now=later)
    assert job.attempts == 2
    assert not mark_delivered(database, delivery_id, "a", 200)  # a lost its lease to b
    assert mark_delivered(database, delivery_id, "b", 200)
    assert load_delivery(database, delivery_id).state == "delivered"


def test_rows_not_yet_due_are_left_alone(database: Database) -> None:
    delivery_id, _ = _one(database)
    [job] = claim_due(database, owner="a", limit=1, lease_seconds=60)
    retry_at = utcnow() + timedelta(minutes=5)
    assert mark_failed(database, job.id, "a", error="HTTP 500", status_code=500, next_attempt_at=retry_at)
    assert claim_due(database, owner="a", limit=1, lease_seconds=60) == []
    row = load_delivery(database, delivery_id)
    assert (row.state, row.last_status, row.last_error, row.lease_owner) == ("pending", 500, "HTTP 500", None)
    assert row.next_attempt_at == retry_at


def test_mark_failed_without_a_retry_time_makes_the_row_dead(database: Database) -> None:
    delivery_id, _ = _one(database)
    claim_due(database, owner="a", limit=1, lease_seconds=60)
    assert mark_failed(database, delivery_id, "a", error="HTTP 410", status_code=410, next_attempt_at=None)
    assert load_delivery(database, delivery_id).state == "dead"
    assert not mark_failed(database, delivery_id, "a", error="again", status_code=500, next_attempt_at=None)


def test_next_due_at_reports_retry_times_and_lease_ends(database: Database) -> None:
    assert next_due_at(database) is None
    delivery_id, _ = _one(database)
    created = load_delivery(database, delivery_id).next_attempt_at
    assert next_due_at(database) == created
    [job] = claim_due(database, owner="a", limit=1, lease_seconds=60)
    assert next_due_at(database) == job.lease_expires_at
    mark_delivered(database, delivery_id, "a", 204)
    assert next_due_at(database) is None


def test_a_later_event_waits_while_an_earlier_one_of_its_task_is_unsent_or_in_flight(database: Database) -> None:
    account_id, _ = insert_account(database)
    task_id = insert_task(database, account_id, endpoint=URL)
    t0 = utcnow() - timedelta(seconds=1)
    first = insert_delivery(database, task_id, account_id, endpoint=URL, status="processing", created_at=t0)
    second = insert_delivery(
        database, task_id, account_id, endpoint=URL, status="completed", created_at=t0 + timedelta(milliseconds=1)
    )
    assert [j.id for j in claim_due(database, owner="a", limit=10, lease_seconds=60)] == [first]
    assert claim_due(database, owner="b", limit=10, lease_seconds=60) == []  # first is in flight
    mark_failed(database, first, "a", error="HTTP 500", status_code=500, next_attempt_at=utcnow())
    # The first failed once: it no longer holds the second back, and being superseded it is dropped.
    assert [j.id for j in claim_due(database, owner="a", limit=10, lease_seconds=60)] == [second]
    row = load_delivery(database, first)
    assert (row.state, row.last_error) == ("dead", SUPERSEDED_ERROR)


def test_concurrent_claims_never_hand_out_the_same_row(database_url: str) -> None:
    setup = Database(database_url)
    account_id, _ = insert_account(setup)
    ids = set()
    for _ in range(40):
        task_id = insert_task(setup, account_id, endpoint=URL)
        ids.add(insert_delivery(setup, task_id, account_id, endpoint=URL))
    setup.dispose()
    claimed: dict[str, list[str]] = {}
    barrier = threading.Barrier(4)

    def claimer(owner: str) -> None:
        db = Database(database_url)
        barrier.wait()
        mine = claimed.setdefault(owner, [])
        while batch := claim_due(db, owner=owner, limit=3, lease_seconds=60):
            mine.extend(job.id for job in batch)
        db.dispose()

    threads = [threading.Thread(target=claimer, args=(f"owner-{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    everything = [i for batch in claimed.values() for i in batch]
    assert sorted(everything) == sorted(ids)  # each row exactly once

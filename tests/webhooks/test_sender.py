"""The sender against a real HTTP receiver on loopback: signing, retries, 410, redirects, timeouts,
ordering, concurrency, wake-ups, and that delivery never touches the tasks table."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select
from standardwebhooks import Webhook

from aceserve.settings import Settings
from aceserve.store.clock import utcnow
from aceserve.store.db import Database
from aceserve.store.models import Task
from aceserve.store.outbox import enqueue_task_event
from tests.webhooks.conftest import SenderFactory
from tests.webhooks.helpers import (
    Clock,
    Receiver,
    Reply,
    insert_account,
    insert_delivery,
    insert_task,
    load_delivery,
    wait_until,
)


def _setup(db: Database, receiver: Receiver, *, secret: str = "", status: str = "completed") -> tuple[str, str, str]:
    """Account, task and one pending delivery; returns (delivery id, task id, signing secret)."""
    account_id, signing = insert_account(db)
    task_id = insert_task(db, account_id, endpoint=receiver.url, secret=secret)
    delivery_id = insert_delivery(db, task_id, account_id, endpoint=receiver.url, secret=secret, status=status)
    return delivery_id, task_id, signing


def test_delivery_is_signed_with_standard_webhooks_and_posts_the_payload_bytes(
    database: Database, receiver: Receiver, make_sender: SenderFactory
) -> None:
    secret = "piapi secret/+= with inner space"
    delivery_id, _, signing = _setup(database, receiver, secret=secret)
    before = int(time.time())
    assert make_sender().run_once() == 1
    [request] = receiver.received()
    headers = request.headers
    assert request.path == "/hook"
    assert headers["content-type"] == "application/json"
    assert headers["webhook-id"] == delivery_id
    assert before <= int(headers["webhook-timestamp"]) <= int(time.time())
    assert re.fullmatch(r"v1,[A-Za-z0-9+/]+={0,2}", headers["webhook-signature"])
    assert headers["x-webhook-secret"] == secret
    row = load_delivery(database, delivery_id)
    assert Webhook(signing).verify(request.body, headers) == row.payload  # signature over these exact bytes
    assert request.json() == row.payload
    assert (row.state, row.attempts, row.last_status, row.lease_owner) == ("delivered", 1, 200, None)
    assert row.delivered_at is not None


def test_no_x_webhook_secret_header_when_the_task_secret_is_empty(
    database: Database, receiver: Receiver, make_sender: SenderFactory
) -> None:
    _setup(database, receiver, secret="")
    make_sender().run_once()
    [request] = receiver.received()
    assert "x-webhook-secret" not in request.headers


def test_retries_after_500s_with_a_stable_webhook_id_until_delivered(
    database: Database, receiver: Receiver, make_sender: SenderFactory
) -> None:
    receiver.script(Reply(500, body=b"boom"), Reply(503))
    delivery_id, _, signing = _setup(database, receiver)
    sender = make_sender()
    wait_until(lambda: sender.run_once() >= 0 and load_delivery(database, delivery_id).state == "delivered")
    requests = receiver.received()
    assert len(requests) == 3
    assert {r.headers["webhook-id"] for r in requests} == {delivery_id}
    assert len({r.body for r in requests}) == 1
    for request in requests:
        Webhook(signing).verify(request.body, request.headers)
    row = load_delivery(database, delivery_id)
    assert (row.attempts, row.last_status, row.last_error) == (3, 200, "")


def test_first_failure_is_recorded_with_status_and_error(
    database: Database, receiver: Receiver, make_sender: SenderFactory
) -> None:
    receiver.script(Reply(500, body=b"database on fire"))
    delivery_id, _, _ = _setup(database, receiver)
    make_sender(policy=None, rand=lambda: 0.5).run_once()  # the real policy: first wait is 0-5 s
    row = load_delivery(database, delivery_id)
    assert (row.state, row.attempts, row.last_status) == ("pending", 1, 500)
    assert row.last_error == "HTTP 500: database on fire"
    assert utcnow() < row.next_attempt_at <= utcnow() + timedelta(seconds=2.5)


def test_410_gone_stops_retries(database: Database, receiver: Receiver, make_sender: SenderFactory) -> None:
    receiver.script(Reply(410))
    delivery_id, _, _ = _setup(database, receiver)
    sender = make_sender()
    assert sender.run_once() == 1
    time.sleep(0.01)
    assert sender.run_once() == 0
    assert len(receiver.received()) == 1
    row = load_delivery(database, delivery_id)
    assert (row.state, row.attempts, row.last_status) == ("dead", 1, 410)


def test_a_redirect_is_not_followed_and_counts_as_a_failure(
    database: Database, receiver: Receiver, make_sender: SenderFactory
) -> None:
    receiver.script(Reply(302, headers={"location": "/elsewhere"}))
    delivery_id, _, _ = _setup(database, receiver)
    make_sender(policy=None).run_once()
    assert [r.path for r in receiver.received()] == ["/hook"]
    row = load_delivery(database, delivery_id)
    assert (row.state, row.attempts, row.last_status) == ("pending", 1, 302)
    assert "redirect to '/elsewhere' not followed" in row.last_error


def test_a_timeout_counts_as_a_failure(
    database: Database, receiver: Receiver, make_sender: SenderFactory, tmp_path: Path
) -> None:
    receiver.script(Reply(200, delay=1.5))
    delivery_id, _, _ = _setup(database, receiver)
    quick = Settings(
        data_dir=tmp_path, webhook_timeout_seconds=0.2, webhook_poll_seconds=0.05, allow_private_webhooks=True
    )
    started = time.monotonic()
    make_sender(settings_=quick, policy=None).run_once()
    assert time.monotonic() - started < 1.2
    row = load_delivery(database, delivery_id)
    assert (row.state, row.attempts, row.last_status) == ("pending", 1, None)
    assert row.last_error.startswith("timed out after 0.2 s")


def test_an_unreachable_endpoint_counts_as_a_failure(database: Database, make_sender: SenderFactory) -> None:
    account_id, _ = insert_account(database)
    dead_url = "http://127.0.0.1:9/hook"  # discard port: nothing listens
    task_id = insert_task(database, account_id, endpoint=dead_url)
    delivery_id = insert_delivery(database, task_id, account_id, endpoint=dead_url)
    make_sender(policy=None).run_once()
    row = load_delivery(database, delivery_id)
    assert (row.state, row.attempts, row.last_status) == ("pending", 1, None)
    assert "ConnectError" in row.last_error


@pytest.mark.parametrize(
    ("secret", "endpoint", "message"),
    [
        ("line\nbreak", None, "x-webhook-secret"),
        ("", "ftp://127.0.0.1/hook", "invalid endpoint URL"),
    ],
)
def test_a_delivery_that_can_never_be_sent_is_given_up_at_once(
    database: Database,
    receiver: Receiver,
    make_sender: SenderFactory,
    secret: str,
    endpoint: str | None,
    message: str,
) -> None:
    account_id, _ = insert_account(database)
    url = endpoint or receiver.url
    task_id = insert_task(database, account_id, endpoint=url)
    delivery_id = insert_delivery(database, task_id, account_id, endpoint=url, secret=secret)
    make_sender().run_once()
    assert receiver.received() == []
    row = load_delivery(database, delivery_id)
    assert row.state == "dead" and message in row.last_error


def test_a_terminal_event_is_given_up_after_the_retry_window(
    database: Database, receiver: Receiver, make_sender: SenderFactory
) -> None:
    receiver.default = Reply(500)
    delivery_id, _, _ = _setup(database, receiver, status="completed")
    clock = Clock()
    sender = make_sender(clock=clock, policy=None)
    sender.run_once()
    clock.advance(hours=25)  # past the contract's 24 h, inside our 26 h: still retried
    sender.run_once()
    assert load_delivery(database, delivery_id).state == "pending"
    clock.advance(hours=1, minutes=1)
    sender.run_once()
    row = load_delivery(database, delivery_id)
    assert (row.state, row.attempts) == ("dead", 3)


def test_a_non_terminal_event_is_given_up_after_ten_minutes(
    database: Database, receiver: Receiver, make_sender: SenderFactory
) -> None:
    receiver.default = Reply(500)
    delivery_id, _, _ = _setup(database, receiver, status="processing")
    clock = Clock()
    sender = make_sender(clock=clock, policy=None)
    sender.run_once()
    clock.advance(minutes=11)
    sender.run_once()
    row = load_delivery(database, delivery_id)
    assert (row.state, row.attempts) == ("dead", 2)


def test_events_of_one_task_go_out_in_creation_order(
    database: Database, receiver: Receiver, make_sender: SenderFactory
) -> None:
    account_id, _ = insert_account(database)
    task_id = insert_task(database, account_id, endpoint=receiver.url)
    t0 = utcnow() - timedelta(seconds=1)
    for i, status in enumerate(["pending", "processing", "completed"]):
        insert_delivery(
            database,
            task_id,
            account_id,
            endpoint=receiver.url,
            status=status,
            created_at=t0 + timedelta(milliseconds=i),
        )
    sender = make_sender()
    assert [sender.run_once() for _ in range(4)] == [1, 1, 1, 0]  # one at a time, never two of one task
    assert [r.json()["data"]["status"] for r in receiver.received()] == ["pending", "processing", "completed"]


def test_a_failed_progress_event_is_not_resent_after_a_later_event(
    database: Database, receiver: Receiver, make_sender: SenderFactory
) -> None:
    receiver.script(Reply(500))
    account_id, _ = insert_account(database)
    task_id = insert_task(database, account_id, endpoint=receiver.url)
    t0 = utcnow() - timedelta(seconds=1)
    first = insert_delivery(database, task_id, account_id, endpoint=receiver.url, status="processing", created_at=t0)
    last = insert_delivery(
        database,
        task_id,
        account_id,
        endpoint=receiver.url,
        status="completed",
        created_at=t0 + timedelta(milliseconds=1),
    )
    clock = Clock()
    sender = make_sender(clock=clock, policy=None, rand=lambda: 0.5)
    sender.run_once()  # processing -> 500, retry in 2.5 s
    sender.run_once()  # completed goes out without waiting for that retry
    clock.advance(minutes=2)
    assert sender.run_once() == 0  # processing is superseded, never sent after completed
    assert [r.json()["data"]["status"] for r in receiver.received()] == ["processing", "completed"]
    assert load_delivery(database, first).state == "dead"
    assert load_delivery(database, last).state == "delivered"


def test_two_concurrent_senders_never_post_the_same_delivery_twice(
    database_url: str, receiver: Receiver, make_sender: SenderFactory
) -> None:
    receiver.default = Reply(200, delay=0.01)
    setup = Database(database_url)
    account_id, _ = insert_account(setup)
    ids = set()
    for _ in range(30):
        task_id = insert_task(setup, account_id, endpoint=receiver.url)
        ids.add(insert_delivery(setup, task_id, account_id, endpoint=receiver.url))
    setup.dispose()
    databases = [Database(database_url), Database(database_url)]
    senders = [make_sender(db, owner=f"sender-{i}", concurrency=4) for i, db in enumerate(databases)]
    barrier = threading.Barrier(2)

    def drain(index: int) -> None:
        barrier.wait()
        while senders[index].run_once():
            pass

    threads = [threading.Thread(target=drain, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    counts = Counter(r.headers["webhook-id"] for r in receiver.received())
    assert set(counts) == ids
    assert set(counts.values()) == {1}
    for db in databases:
        db.dispose()


def test_run_forever_sends_a_new_event_within_milliseconds_of_wake(
    database: Database, receiver: Receiver, make_sender: SenderFactory, tmp_path: Path
) -> None:
    slow_poll = Settings(
        data_dir=tmp_path, webhook_timeout_seconds=2.0, webhook_poll_seconds=30.0, allow_private_webhooks=True
    )
    sender = make_sender(settings_=slow_poll)
    stop = threading.Event()
    loop = threading.Thread(target=sender.run_forever, args=(stop,))
    loop.start()
    try:
        time.sleep(0.1)  # idle: sleeping on the 30 s poll
        _setup(database, receiver)
        woken = time.monotonic()
        sender.wake()
        wait_until(lambda: len(receiver.received()) == 1, timeout=2)
        assert receiver.received()[0].at - woken < 0.5
    finally:
        stop.set()
        sender.wake()
        loop.join(timeout=5)
    assert not loop.is_alive()


def test_delivery_never_modifies_the_tasks_table(
    database: Database, receiver: Receiver, make_sender: SenderFactory
) -> None:
    receiver.script(Reply(500), Reply(302, headers={"location": "/x"}), Reply(410))
    account_id, _ = insert_account(database)
    task_ids = [insert_task(database, account_id, endpoint=receiver.url, status="completed") for _ in range(4)]
    for task_id in task_ids:
        insert_delivery(database, task_id, account_id, endpoint=receiver.url)

    def snapshot() -> list[dict[str, Any]]:
        with database.read() as session:
            rows = session.execute(select(Task.__table__).order_by(Task.id)).mappings().all()
            return [dict(row) for row in rows]

    before = snapshot()
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(database.engine, "before_cursor_execute", record)
    try:
        sender = make_sender()
        wait_until(lambda: sender.run_once() >= 0 and len(receiver.received()) >= 5)
    finally:
        event.remove(database.engine, "before_cursor_execute", record)
    assert statements and not [s for s in statements if re.search(r"\btasks\b", s)]
    assert snapshot() == before


def test_an_event_enqueued_by_the_store_is_delivered_with_absolute_file_urls(
    database: Database, receiver: Receiver, make_sender: SenderFactory, settings: Settings
) -> None:
    """End to end with the real outbox writer: the body is the rendered task object, its file paths
    (kept relative by the store) made absolute under the sender's public URL."""
    account_id, signing = insert_account(database)
    task_id = insert_task(database, account_id, endpoint=receiver.url, secret="abc")
    with database.write() as session:
        task = session.get(Task, task_id)
        assert task is not None
        delivery = enqueue_task_event(session, task)
        assert delivery is not None and delivery.payload["data"]["output"] == {"audio_url": "/files/x.mp3"}
        assert delivery is not None
        delivery_id = delivery.id
    make_sender().run_once()
    [request] = receiver.received()
    body = Webhook(signing).verify(request.body, request.headers)
    assert request.headers["webhook-id"] == delivery_id
    assert request.headers["x-webhook-secret"] == "abc"
    assert body["data"]["task_id"] == task_id and body["data"]["status"] == "completed"
    assert body["data"]["output"] == {"audio_url": f"{settings.public_url}/files/x.mp3"}
    assert isinstance(body["timestamp"], int)

"""Every stored task renders and every webhook body encodes, whatever a row holds: strings the API
would refuse (lone surrogates, NUL, C1 controls) are written below it, then read back through GET and
sent by the webhook sender. An event whose body cannot be built at all stops with the reason."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update
from standardwebhooks import Webhook

from aceserve.store.db import Database
from aceserve.store.models import Task, WebhookDelivery
from aceserve.store.tasks import TaskDraft, create_task
from aceserve.webhooks.sender import WebhookSender
from tests.api.server import RunningServer, make_settings, serving
from tests.webhooks.helpers import (
    FAST_RETRIES,
    Receiver,
    insert_account,
    insert_delivery,
    insert_task,
    load_delivery,
)

HOSTILE = "lone \ud800 surrogate, nul \x00, c1 \x85, bell \x07"


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[RunningServer]:
    with serving(make_settings(tmp_path / "d", database_url)) as running:
        yield running


def _hostile_task(db: Database, account_id: str, endpoint: str = "") -> str:
    draft = TaskDraft(
        task_type="txt2audio",
        input={"duration": 10, "lyrics": HOSTILE, "negative_style_prompt": "", "style_prompt": HOSTILE},
        config={"service_mode": "", "webhook_config": {"endpoint": endpoint, "secret": ""}},
        frozen_units=5000,
        logs=(f"`input.{HOSTILE}` is not a field of txt2audio and was ignored.",),
    )
    with db.write() as session:
        return create_task(session, account_id, draft, max_queued=1000).task.id


def test_a_task_holding_hostile_strings_renders_through_get(server: RunningServer) -> None:
    db = Database(server.settings.database_url)
    try:
        with db.read() as session:
            from aceserve.store.accounts import get_account_by_name

            account_id = get_account_by_name(session, "tester").id
        task_id = _hostile_task(db, account_id)
        with db.write() as session:  # as if a worker had failed it with a hostile message
            session.execute(update(Task).where(Task.id == task_id).values(error_message="bad \u0085 message"))
    finally:
        db.dispose()
    response = server.client.get(f"/api/v1/task/{task_id}")
    assert response.status_code == 200
    data = json.loads(response.content.decode("utf-8"))["data"]
    assert data["input"]["style_prompt"] == HOSTILE.replace("\ud800", "\ufffd")
    assert "\ufffd" in data["logs"][0]
    listed = server.client.get("/account/active_tasks")
    assert listed.status_code == 200


def test_a_webhook_event_holding_hostile_strings_is_delivered_signed(
    tmp_path: Path, database: Database, receiver: Receiver
) -> None:
    from aceserve.settings import Settings

    account_id, secret = insert_account(database)
    task_id = _hostile_task(database, account_id, endpoint=receiver.url)
    settings = Settings(data_dir=tmp_path, webhook_timeout_seconds=2.0, allow_private_webhooks=True)
    with WebhookSender(database, settings, owner="s", policy=FAST_RETRIES) as sender:
        assert sender.run_once() == 1
    (got,) = receiver.received()
    payload = json.loads(got.body.decode("utf-8"))
    assert payload["data"]["task_id"] == task_id
    assert payload["data"]["input"]["lyrics"] == HOSTILE.replace("\ud800", "\ufffd")
    headers = {name: got.headers[name] for name in ("webhook-id", "webhook-timestamp", "webhook-signature")}
    Webhook(secret).verify(got.body.decode("utf-8"), headers)


def test_an_event_whose_body_cannot_be_built_stops_with_the_reason(
    tmp_path: Path, database: Database, receiver: Receiver
) -> None:
    from aceserve.settings import Settings

    account_id, _ = insert_account(database)
    task_id = insert_task(database, account_id, endpoint=receiver.url)
    delivery_id = insert_delivery(database, task_id, account_id, endpoint=receiver.url)
    with database.write() as session:  # not an object: no task to put in a body
        session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery_id).values(payload=["broken"]))
    settings = Settings(data_dir=tmp_path, webhook_timeout_seconds=2.0, allow_private_webhooks=True)
    with WebhookSender(database, settings, owner="s", policy=FAST_RETRIES) as sender:
        assert sender.run_once() == 1
        assert sender.run_once() == 0  # not claimed again
    row = load_delivery(database, delivery_id)
    assert row.state == "dead" and "cannot be built" in row.last_error
    assert receiver.received() == []


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()

"""Fixtures: a loopback receiver, fast settings, and senders that are always closed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aceserve.settings import Settings
from aceserve.store.db import Database
from aceserve.webhooks.sender import WebhookSender
from tests.webhooks.helpers import FAST_RETRIES, Receiver

SenderFactory = Callable[..., WebhookSender]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # The receiver listens on loopback, which only counts as reachable with private webhooks allowed.
    return Settings(
        data_dir=tmp_path, webhook_timeout_seconds=2.0, webhook_poll_seconds=0.05, allow_private_webhooks=True
    )


@pytest.fixture
def make_sender(database: Database, settings: Settings) -> Iterator[SenderFactory]:
    senders: list[WebhookSender] = []

    def make(
        db: Database | None = None, *, owner: str = "sender-a", settings_: Settings | None = None, **kwargs: Any
    ) -> WebhookSender:
        kwargs.setdefault("policy", FAST_RETRIES)
        sender = WebhookSender(db or database, settings_ or settings, owner=owner, **kwargs)
        senders.append(sender)
        return sender

    yield make
    for sender in senders:
        sender.close()

"""Webhook hosts are normalized before the address check: a trailing dot or percent-encoding can no
longer slip a private address past the create check, nor leave an event retried for a day as
unresolvable."""

from __future__ import annotations

from pathlib import Path

import pytest

from aceserve.domain.errors import InvalidInput
from aceserve.settings import Settings
from aceserve.store.db import Database
from aceserve.webhooks.endpoints import check_endpoint_at_create, parse_endpoint
from aceserve.webhooks.sender import WebhookSender
from tests.webhooks.helpers import FAST_RETRIES, Receiver, insert_account, insert_delivery, insert_task, load_delivery


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://127.0.0.1./hook",
        "http://127%2E0%2E0%2E1/hook",
        "http://%31%32%37.0.0.1/hook",
        "http://%6Cocalhost/hook",
        "http://LOCALHOST./hook",
        "http://10.0.0.1../hook",
        "http://0x7f.1./hook",
    ],
)
def test_private_hosts_spelled_with_a_trailing_dot_or_percent_encoding_are_refused_at_create(endpoint: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_endpoint_at_create(endpoint, allow_private=False)
    assert caught.value.field == "config.webhook_config.endpoint" and "private" in caught.value.message


@pytest.mark.parametrize("endpoint", ["http://ex%00ample.com/hook", "http://exa%20mple.com/", "http://a%2Fb.com/"])
def test_hosts_that_decode_to_no_host_name_are_a_400_at_create(endpoint: str) -> None:
    for allow_private in (False, True):
        with pytest.raises(InvalidInput) as caught:
            check_endpoint_at_create(endpoint, allow_private=allow_private)
        assert "is not a usable URL" in caught.value.message


def test_public_names_are_normalized_and_pass() -> None:
    check_endpoint_at_create("https://Exa%6Dple.COM./hook", allow_private=False)
    endpoint = parse_endpoint("https://Exa%6Dple.COM./hook")
    assert endpoint.host == "example.com" and endpoint.port == 443


def test_an_endpoint_with_a_trailing_dot_is_delivered(tmp_path: Path, database: Database) -> None:
    receiver = Receiver().start()
    try:
        endpoint = receiver.url_at("127.0.0.1.")
        account_id, _ = insert_account(database)
        task_id = insert_task(database, account_id, endpoint=endpoint)
        delivery_id = insert_delivery(database, task_id, account_id, endpoint=endpoint)
        settings = Settings(data_dir=tmp_path, webhook_timeout_seconds=2.0, allow_private_webhooks=True)
        with WebhookSender(database, settings, owner="s", policy=FAST_RETRIES) as sender:
            sender.run_once()
        assert load_delivery(database, delivery_id).state == "delivered"
        assert len(receiver.received()) == 1
    finally:
        receiver.stop()

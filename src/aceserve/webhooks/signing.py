"""One delivery attempt as HTTP: body bytes and headers, signed the Standard Webhooks way (contract §5).

The body is serialized once per attempt and the very same bytes are signed and sent, so a receiver
verifying ``id.timestamp.body`` over the raw body always matches. ``webhook-id`` is the outbox row id
(stable across retries, so receivers can de-duplicate); ``webhook-timestamp`` is this attempt's time
(receivers reject stale timestamps, so a retry must not reuse the first attempt's).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from standardwebhooks import Webhook

from aceserve.domain.text import json_bytes
from aceserve.store.outbox_delivery import DeliveryJob
from aceserve.store.render import absolute_urls

USER_AGENT = "aceserve-webhooks/1"

# What h11 (under httpx) accepts as a header value, ASCII only: no control characters, no line
# breaks, no leading or trailing whitespace.
_HEADER_VALUE = re.compile(r"[^\x00-\x1f\x7f\s]+(?:[ \t]+[^\x00-\x1f\x7f\s]+)*")


class UnsendableDelivery(ValueError):
    """The delivery can never be sent as stored (bad signing secret, header-unsafe task secret).

    Retrying cannot help, so the sender gives up on it at once with this message.
    """


@dataclass(frozen=True)
class SignedRequest:
    url: str
    headers: dict[str, str]
    body: bytes


def serialize_payload(payload: object) -> bytes:
    """Compact UTF-8 JSON; key order is the stored order (the task object's contract order). Any
    string the event holds is sent (lone surrogates as U+FFFD: see ``domain.text.json_bytes``)."""
    return json_bytes(payload)


def build_request(job: DeliveryJob, *, now: datetime, public_url: str = "") -> SignedRequest:
    """The request for one attempt of ``job`` made at ``now``; the task's file paths are made
    absolute under ``public_url`` (the store keeps them relative)."""
    payload = job.payload
    if public_url and isinstance(payload.get("data"), dict):
        payload = {**payload, "data": absolute_urls(payload["data"], public_url)}
    body = serialize_payload(payload)
    try:
        signer = Webhook(job.signing_secret)
    except Exception as exc:  # the library raises bare binascii/Empty*/Runtime errors
        raise UnsendableDelivery(f"the account's webhook signing secret is not a valid whsec_ key: {exc}") from exc
    signature = signer.sign(msg_id=job.id, timestamp=now, data=body.decode("utf-8"))
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": job.id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }
    if job.secret:
        if not (job.secret.isascii() and _HEADER_VALUE.fullmatch(job.secret)):
            raise UnsendableDelivery(
                "config.webhook_config.secret cannot be sent verbatim as the x-webhook-secret header: "
                "it must be printable ASCII without leading or trailing whitespace"
            )
        headers["x-webhook-secret"] = job.secret
    return SignedRequest(url=job.endpoint, headers=headers, body=body)

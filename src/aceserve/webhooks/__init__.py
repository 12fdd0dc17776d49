"""Webhook delivery (contract §5): the sender that drains the transactional outbox.

``WebhookSender`` claims due ``webhook_outbox`` rows, signs them (Standard Webhooks plus PiAPI's
``x-webhook-secret``), POSTs them without following redirects, and retries failures with jittered
exponential backoff. It reads and writes only the outbox: delivery never changes a task.

Endpoints are chosen by API clients, so they reach public addresses only (resolved once, then
pinned) unless ``allow_private_webhooks`` is set; ``check_endpoint_at_create`` refuses the obvious
private literals when a task is created.
"""

from aceserve.webhooks.backoff import RetryPolicy, backoff_delay, next_attempt_at
from aceserve.webhooks.endpoints import EndpointPolicy, check_endpoint_at_create
from aceserve.webhooks.sender import WebhookSender
from aceserve.webhooks.signing import SignedRequest, UnsendableDelivery, build_request

__all__ = [
    "EndpointPolicy",
    "RetryPolicy",
    "SignedRequest",
    "UnsendableDelivery",
    "WebhookSender",
    "backoff_delay",
    "build_request",
    "check_endpoint_at_create",
    "next_attempt_at",
]

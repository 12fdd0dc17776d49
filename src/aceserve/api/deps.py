"""Dependencies: the services an app holds, and the authenticated account of a request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from aceserve.api.ratelimit import RateLimiter
from aceserve.api.streams import OpenStreams
from aceserve.domain.errors import Unauthorized
from aceserve.settings import Settings
from aceserve.storage import FileStorage
from aceserve.store import accounts
from aceserve.store.db import Database
from aceserve.store.feed import TaskFeed
from aceserve.store.models import Account
from aceserve.store.submit import TaskSubmitter
from aceserve.store.wakeup import Wakeup


@dataclass
class Services:
    """Everything request handlers need; built once by the app's lifespan."""

    settings: Settings
    db: Database
    storage: FileStorage
    wakeup: Wakeup
    rate_limiter: RateLimiter
    submitter: TaskSubmitter
    feed: TaskFeed
    """Wakes task event streams when tasks change."""
    open_streams: OpenStreams
    expects_workers: bool = False
    """/health/ready needs a live ready worker (this process runs workers, or the settings say so)."""


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def api_key_from(request: Request) -> str:
    """The key from ``x-api-key`` (any case) or ``Authorization: Bearer``; never body or query."""
    key = request.headers.get("x-api-key", "").strip()
    if key:
        return key
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    raise Unauthorized("Missing API key: send it in the `x-api-key` header or as `Authorization: Bearer <key>`.")


def current_account(request: Request, services: ServicesDep) -> Account:
    key = api_key_from(request)
    with services.db.read() as session:
        found = accounts.authenticate_key(session, key)
    if found is None:
        raise Unauthorized("Invalid API key: it is unknown or has been revoked.")
    account, key_row = found
    services.rate_limiter.check(key)
    if accounts.key_use_is_stale(key_row):
        with services.db.write() as session:
            accounts.note_key_use(session, key_row.id)
    return account


AccountDep = Annotated[Account, Depends(current_account)]

"""Dependencies: the services an app holds, and the authenticated caller of a request."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from aceserve.api.ratelimit import RateLimiter
from aceserve.api.reads import Creates, HotReads
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

KEY_CACHE_SECONDS = 1.0
"""How long this process trusts that a key it has seen is live, for the check before a create (the create's
transaction checks the key again, so a revoked key never creates a task)."""

MAX_KEY_LENGTH = 200


class KeyCache:
    """Key hash → account id, each entry trusted for ``seconds`` after it was read from the database."""

    def __init__(self, seconds: float = KEY_CACHE_SECONDS, max_entries: int = 10_000) -> None:
        self.seconds = seconds
        self.max_entries = max_entries
        self._entries: dict[str, tuple[str, float]] = {}

    def get(self, key_hash: str) -> str | None:
        entry = self._entries.get(key_hash)
        if entry is None or time.monotonic() - entry[1] >= self.seconds:
            return None
        return entry[0]

    def put(self, key_hash: str, account_id: str, read_at: float) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key_hash] = (account_id, read_at)


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
    reads: HotReads
    """Where the hot path's prepared reads run (inline on SQLite, own threads on PostgreSQL)."""
    creates: Creates
    """Where creates run (on SQLite, on the event loop when the write lock is free; ``reads``)."""
    expects_workers: bool = False
    """/health/ready needs a live ready worker (this process runs workers, or the settings say so)."""
    key_cache: KeyCache = field(default_factory=KeyCache)


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_services(request: Request) -> Services:
    return services_of(request)


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


def key_hash_from(request: Request) -> str:
    """The hash of the request's key (``accounts.hash_key``), for a lookup."""
    key = api_key_from(request)
    if len(key) > MAX_KEY_LENGTH:
        raise invalid_key()
    return accounts.hash_key(key)


def invalid_key() -> Unauthorized:
    return Unauthorized("Invalid API key: it is unknown or has been revoked.")


def current_account(request: Request, services: ServicesDep) -> Account:
    """The caller's account, read now (routes that show or change the account itself)."""
    key = api_key_from(request)
    with services.db.read() as session:
        found = accounts.authenticate_key(session, key)
    if found is None:
        raise invalid_key()
    account, key_row = found
    services.rate_limiter.check(accounts.hash_key(key))
    note_key_use(services.db, key_row.id, key_row.last_used_at)
    return account


AccountDep = Annotated[Account, Depends(current_account)]


@dataclass(frozen=True)
class Caller:
    account_id: str
    key_hash: str
    """For the create's transaction, which checks the key again."""


async def current_caller(request: Request, services: Services) -> Caller:
    """The caller, from this process's key cache when it read the key within ``KEY_CACHE_SECONDS``."""
    key_hash = key_hash_from(request)
    account_id = services.key_cache.get(key_hash)
    if account_id is None:
        read_at = time.monotonic()
        key = await services.reads.run(accounts.live_key, services.db, key_hash)
        if key is None:
            raise invalid_key()
        await note_key_use_async(services.db, key.id, key.last_used_at)
        account_id = key.account_id
        services.key_cache.put(key_hash, account_id, read_at)
    services.rate_limiter.check(key_hash)
    return Caller(account_id, key_hash)


def note_key_use(db: Database, key_id: str, last_used_at: datetime | None) -> None:
    """Refresh the key's ``last_used_at`` when it is older than its resolution (a write about once a minute)."""
    if accounts.key_use_is_stale(last_used_at):
        with db.write() as session:
            accounts.note_key_use(session, key_id)


async def note_key_use_async(db: Database, key_id: str, last_used_at: datetime | None) -> None:
    """``note_key_use`` from the event loop: the rare write goes to a thread."""
    if accounts.key_use_is_stale(last_used_at):
        await run_in_threadpool(note_key_use, db, key_id, last_used_at)

"""Accounts, API keys and the credit ledger.

Money is kept in the usage unit, 1e-6 USD (``domain.billing``). Every balance movement writes an append-only ledger
row in the caller's transaction, so an account's available balance always equals the sum of its
``available_delta`` and its frozen amount the sum of its ``frozen_delta``. ``balance_units`` is None
for accounts with unlimited credit (the default account of a single-user install); their movements
are still recorded.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import BigInteger, Table, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from aceserve.domain.billing import units_to_usd, usd_to_units
from aceserve.domain.errors import Conflict, InsufficientCredit, InvalidInput, NotFound
from aceserve.store.clock import new_uuid, utcnow
from aceserve.store.db import Database
from aceserve.store.models import Account, ApiKey, LedgerEntry
from aceserve.store.prepared import Writes, cursor_of, dialect_of, prepare

KEY_PREFIX_LENGTH = 12


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


def hash_key(key: str) -> str:
    # Keys are 256-bit random tokens, so a fast hash is enough: no dictionary attack applies.
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class NewKey:
    """A freshly created key. ``secret`` is shown once and never stored."""

    secret: str
    prefix: str
    account_name: str


def create_account(session: Session, name: str, *, credits_usd: float | None, max_concurrent: int) -> Account:
    """Create an account; ``credits_usd=None`` means unlimited credit."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("name", "must be 1 to 100 characters")
    if session.scalar(select(Account.id).where(Account.name == name)):
        raise Conflict(f"An account named {name!r} already exists.")
    if max_concurrent < 1:
        raise InvalidInput("max_concurrent", f"must be at least 1; got {max_concurrent}")
    account = Account(
        id=new_uuid(),
        name=name,
        balance_units=None if credits_usd is None else 0,
        frozen_units=0,
        max_concurrent=max_concurrent,
        plan="unlimited" if credits_usd is None else "credits",
        webhook_secret=new_webhook_secret(),
        created_at=utcnow(),
    )
    session.add(account)
    session.flush()
    if credits_usd:
        credit(session, account, credits_usd, note="initial credit")
    return account


def get_account_by_name(session: Session, name: str, *, lock: bool = False) -> Account:
    query = select(Account).where(Account.name == name)
    if lock:
        query = query.with_for_update()
    account = session.scalar(query)
    if account is None:
        raise NotFound(f"No account named {name!r}.")
    return account


def get_account(session: Session, account_id: str) -> Account:
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound(f"No account with id {account_id}.")
    return account


@dataclass(frozen=True)
class Credits:
    """An account's credit in units: ``total`` ever credited = ``used`` + ``frozen`` + ``available``.
    ``available`` and ``total`` are None for unlimited credit."""

    available: int | None
    frozen: int
    used: int
    total: int | None


def credits(session: Session, account: Account) -> Credits:
    """From the ledger: consumed units, and for metered accounts everything credited."""
    used = session.scalar(
        select(func.coalesce(-func.sum(LedgerEntry.available_delta), 0)).where(
            LedgerEntry.account_id == account.id, LedgerEntry.kind == "consume"
        )
    )
    used_units = int(used or 0)
    if account.balance_units is None:
        return Credits(available=None, frozen=account.frozen_units, used=used_units, total=None)
    return Credits(
        available=account.balance_units,
        frozen=account.frozen_units,
        used=used_units,
        total=account.balance_units + account.frozen_units + used_units,
    )


# Statements of the create path, built once (building one costs more than running it on SQLite).
_ACCOUNTS = cast(Table, Account.__table__)
_LOCK_ACCOUNT = (
    select(Account)
    .where(Account.id == bindparam("account_id"))
    .with_for_update()
    .execution_options(populate_existing=True)
)
_FREEZE = {
    metered: update(_ACCOUNTS)
    .where(
        _ACCOUNTS.c.id == bindparam("account_id"),
        *([_ACCOUNTS.c.balance_units >= bindparam("units")] if metered else []),
    )
    .values(
        balance_units=_ACCOUNTS.c.balance_units - bindparam("units"),
        frozen_units=_ACCOUNTS.c.frozen_units + bindparam("units"),
    )
    .returning(_ACCOUNTS.c.balance_units, _ACCOUNTS.c.frozen_units)
    for metered in (True, False)
}
_LEDGER_INSERT = insert(cast(Table, LedgerEntry.__table__))
_LEDGER_FREEZE = insert(cast(Table, LedgerEntry.__table__)).values(
    account_id=bindparam("account_id"),
    task_id=bindparam("task_id"),
    kind="freeze",
    available_delta=-bindparam("units", type_=BigInteger),
    frozen_delta=bindparam("units", type_=BigInteger),
    note="frozen at create",
    created_at=bindparam("created_at", type_=LedgerEntry.__table__.c.created_at.type),
)
_ACCOUNT_FOR_CREATE = (
    select(_ACCOUNTS.c.balance_units, _ACCOUNTS.c.max_concurrent)
    .where(_ACCOUNTS.c.id == bindparam("account_id"))
    .with_for_update()
)


@dataclass(frozen=True)
class LockedAccount:
    id: str
    balance_units: int | None
    """None: unlimited credit."""
    max_concurrent: int


def lock_for_create(writes: Writes, account_id: str) -> LockedAccount:
    """``lock_account`` for the create path: the two columns it decides on, without loading the ORM row."""
    row = prepare(_ACCOUNT_FOR_CREATE, dialect_of(writes)).first(cursor_of(writes), {"account_id": account_id})
    if row is None:
        raise NotFound(f"No account with id {account_id}.")
    return LockedAccount(account_id, row.balance_units, row.max_concurrent)


def freeze_for_create(writes: Writes, account: LockedAccount, task_id: str, units: int, *, why: str = "") -> None:
    """``freeze`` for the create path (the same conditional UPDATE and ledger row), on the DBAPI cursor of
    the transaction. ``account`` was read under the lock, so its balance is the one refused."""
    dialect, cursor = dialect_of(writes), cursor_of(writes)
    params = {"account_id": account.id, "units": units}
    if prepare(_FREEZE[account.balance_units is not None], dialect).first(cursor, params) is None:
        needs = why or f"${units_to_usd(units):.4f}"
        raise InsufficientCredit(
            f"Insufficient credit: this task needs {needs} frozen; "
            f"the account has ${units_to_usd(account.balance_units or 0):.4f} available."
        )
    prepare(_LEDGER_FREEZE, dialect).run(cursor, {**params, "task_id": task_id, "created_at": utcnow()})


def lock_account(session: Session, account_id: str) -> Account:
    """Load the account row locked for this transaction (PostgreSQL; SQLite's write lock covers it)."""
    account = session.scalar(_LOCK_ACCOUNT, {"account_id": account_id})
    if account is None:
        raise NotFound(f"No account with id {account_id}.")
    return account


def credit(session: Session, account: Account, usd: float, *, note: str = "credit") -> None:
    """Add (or, negative, remove) available credit."""
    units = usd_to_units(usd)
    if account.balance_units is None:
        raise Conflict(f"Account {account.name!r} has unlimited credit; there is nothing to add.")
    if account.balance_units + units < 0:
        raise InvalidInput(
            "usd", f"would make the balance negative (balance ${units_to_usd(account.balance_units):.4f})"
        )
    account.balance_units += units
    _ledger(session, account.id, None, "credit", units, 0, note)


def freeze(session: Session, account: Account, task_id: str, units: int, *, why: str = "") -> None:
    """Hold ``units`` for a task, refusing with 402 when the balance cannot cover it; ``why`` (what
    was estimated and why) goes into the refusal.

    The conditional UPDATE makes the check and the debit one atomic step, so parallel creates can
    never overdraw an account on either backend; it returns the new amounts, which ``account`` takes.
    """
    statement = _FREEZE[account.balance_units is not None]
    row = session.execute(statement, {"account_id": account.id, "units": units}).first()
    if row is None:
        session.refresh(account)
        needs = why or f"${units_to_usd(units):.4f}"
        raise InsufficientCredit(
            f"Insufficient credit: this task needs {needs} frozen; "
            f"the account has ${units_to_usd(account.balance_units or 0):.4f} available."
        )
    set_committed_value(account, "balance_units", row.balance_units)
    set_committed_value(account, "frozen_units", row.frozen_units)
    _ledger(session, account.id, task_id, "freeze", -units, units, "frozen at create")


def settle(session: Session, account_id: str, task_id: str, frozen: int, consumed: int) -> None:
    """Release a task's frozen units and consume ``consumed`` of them (0 on failure or cancel)."""
    assert 0 <= consumed <= frozen, (consumed, frozen)
    values: dict[str, object] = {"frozen_units": Account.frozen_units - frozen}
    balance_change = frozen - consumed
    account = session.get(Account, account_id)
    assert account is not None
    if account.balance_units is not None:
        values["balance_units"] = Account.balance_units + balance_change
    session.execute(
        update(Account).where(Account.id == account_id).values(**values).execution_options(synchronize_session=False)
    )
    session.refresh(account)
    if frozen:
        _ledger(session, account_id, task_id, "release", frozen, -frozen, "released at end")
    if consumed:
        _ledger(session, account_id, task_id, "consume", -consumed, 0, "generated audio")


def ledger_sums(session: Session, account_id: str) -> tuple[int, int]:
    """(sum of available deltas, sum of frozen deltas): what the balance and frozen must equal."""
    row = session.execute(
        select(
            func.coalesce(func.sum(LedgerEntry.available_delta), 0),
            func.coalesce(func.sum(LedgerEntry.frozen_delta), 0),
        ).where(LedgerEntry.account_id == account_id)
    ).one()
    return int(row[0]), int(row[1])


def _ledger(
    session: Session, account_id: str, task_id: str | None, kind: str, available: int, frozen: int, note: str
) -> None:
    session.execute(
        _LEDGER_INSERT,
        {
            "account_id": account_id,
            "task_id": task_id,
            "kind": kind,
            "available_delta": available,
            "frozen_delta": frozen,
            "note": note,
            "created_at": utcnow(),
        },
    )


# --- API keys ----------------------------------------------------------------------------------


def create_key(session: Session, account: Account) -> NewKey:
    secret = "ak_" + secrets.token_urlsafe(32)
    prefix = secret[:KEY_PREFIX_LENGTH]
    session.add(
        ApiKey(
            id=new_uuid(),
            account_id=account.id,
            prefix=prefix,
            key_hash=hash_key(secret),
            created_at=utcnow(),
            revoked_at=None,
        )
    )
    return NewKey(secret=secret, prefix=prefix, account_name=account.name)


def revoke_key(session: Session, prefix: str) -> int:
    """Revoke the live key that starts with ``prefix`` (at least 8 characters, or the whole key).

    A prefix that matches several keys is refused rather than revoking more than was meant.
    """
    if len(prefix) < 8:
        raise InvalidInput("prefix", "must be at least 8 characters of the key")
    live = ApiKey.revoked_at.is_(None)
    exact = session.scalars(select(ApiKey).where(ApiKey.key_hash == hash_key(prefix), live)).all()
    matching = list(exact) or list(
        session.scalars(
            select(ApiKey).where(ApiKey.prefix.startswith(prefix[:KEY_PREFIX_LENGTH], autoescape=True), live)
        ).all()
    )
    if len(prefix) > KEY_PREFIX_LENGTH and not exact:
        matching = []  # beyond the stored prefix only the whole key can be checked
    if not matching:
        raise NotFound(f"No live API key starts with {prefix!r}.")
    if len(matching) > 1:
        raise Conflict(f"{len(matching)} live keys start with {prefix!r}; give more characters of the key.")
    matching[0].revoked_at = utcnow()
    return 1


@dataclass(frozen=True)
class LiveKey:
    id: str
    account_id: str
    last_used_at: datetime | None


_LIVE_KEY = select(ApiKey.id, ApiKey.account_id, ApiKey.last_used_at).where(
    ApiKey.key_hash == bindparam("key_hash"), ApiKey.revoked_at.is_(None)
)


def live_key(db: Database, key_hash: str) -> LiveKey | None:
    """The live key with this hash (``hash_key``), or None when it is unknown or revoked (a prepared read)."""
    row = db.prepared(_LIVE_KEY).first({"key_hash": key_hash})
    return None if row is None else LiveKey(row.id, row.account_id, row.last_used_at)


def authenticate(session: Session, secret: str) -> Account | None:
    """The account owning a live key, or None."""
    found = authenticate_key(session, secret)
    return None if found is None else found[0]


def authenticate_key(session: Session, secret: str) -> tuple[Account, ApiKey] | None:
    """The account owning a live key, and the key's row; None for an unknown or revoked key."""
    if not secret or len(secret) > 200:
        return None
    row = session.execute(
        select(Account, ApiKey)
        .join(ApiKey, ApiKey.account_id == Account.id)
        .where(ApiKey.key_hash == hash_key(secret), ApiKey.revoked_at.is_(None))
    ).first()
    return None if row is None else (row[0], row[1])


KEY_USE_RESOLUTION = timedelta(minutes=1)
"""``last_used_at`` is refreshed at most this often, so authenticating stays a read almost always."""


def key_use_is_stale(last_used_at: datetime | None) -> bool:
    return last_used_at is None or utcnow() - last_used_at >= KEY_USE_RESOLUTION


def note_key_use(session: Session, key_id: str) -> None:
    """Record that the key authenticated a request now (unless another request just did)."""
    now = utcnow()
    session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == key_id,
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < now - KEY_USE_RESOLUTION),
        )
        .values(last_used_at=now)
    )


@dataclass(frozen=True)
class KeyListing:
    prefix: str
    account_name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def list_keys(session: Session, account_name: str | None = None) -> list[KeyListing]:
    """Every key (revoked ones too), oldest first; only ``account_name``'s when given."""
    query = select(ApiKey, Account.name).join(Account, Account.id == ApiKey.account_id)
    if account_name is not None:
        get_account_by_name(session, account_name)
        query = query.where(Account.name == account_name)
    rows = session.execute(query.order_by(ApiKey.created_at, ApiKey.id)).all()
    return [KeyListing(key.prefix, name, key.created_at, key.last_used_at, key.revoked_at) for key, name in rows]


def list_accounts(session: Session) -> list[tuple[Account, int]]:
    """Every account with its number of live keys, by name."""
    live = (
        select(ApiKey.account_id, func.count().label("keys"))
        .where(ApiKey.revoked_at.is_(None))
        .group_by(ApiKey.account_id)
        .subquery()
    )
    rows = session.execute(
        select(Account, func.coalesce(live.c["keys"], 0))
        .outerjoin(live, live.c.account_id == Account.id)
        .order_by(Account.name)
    ).all()
    return [(account, int(keys)) for account, keys in rows]


def ensure_default_account(session: Session, *, max_concurrent: int) -> NewKey | None:
    """On first start with no keys at all: a default unlimited account and its key."""
    if session.scalar(select(func.count()).select_from(ApiKey)):
        return None
    account = session.scalar(select(Account).where(Account.name == "default"))
    if account is None:
        account = create_account(session, "default", credits_usd=None, max_concurrent=max_concurrent)
    return create_key(session, account)

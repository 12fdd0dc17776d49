"""``aceserve keys`` and ``aceserve accounts``: the admin commands, with guards for the operator.

A key is never made for an account that does not exist unless ``--create-account`` says so; secrets
(keys, webhook signing secrets) are shown once at creation or only with ``--show-secret``; every "not
found" names the database it looked in (``common.main_guard``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from aceserve.cli.common import build_settings, describe_database, main_guard, open_db, store_options
from aceserve.domain.billing import units_to_usd
from aceserve.domain.errors import NotFound

if TYPE_CHECKING:
    from aceserve.store.models import Account

SHOW_SECRET = click.option(
    "--show-secret", is_flag=True, help="Also print the account's webhook signing secret (keep it private)."
)


@click.group()
def keys() -> None:
    """Create, list and revoke API keys."""


@keys.command("create")
@store_options
@click.option("--account", "account_name", default="default", show_default=True, help="Account that owns the key.")
@click.option(
    "--create-account",
    is_flag=True,
    help="Create the account when it does not exist (unlimited credit unless --credits-usd).",
)
@click.option("--credits-usd", type=float, default=None, help="With --create-account: its starting balance in USD.")
@main_guard
def keys_create(
    config_file: Path | None, account_name: str, create_account: bool, credits_usd: float | None, **flags: Any
) -> None:
    """Print a new API key for an existing account (shown once; stored hashed)."""
    from aceserve.store import accounts

    settings = build_settings(config_file, **flags)
    if credits_usd is not None and not create_account:
        raise click.UsageError(
            "--credits-usd applies to a new account: add --create-account, or use `accounts credit`."
        )
    db = open_db(settings)
    with db.write() as session:
        try:
            account = accounts.get_account_by_name(session, account_name, lock=True)
        except NotFound as exc:
            if not create_account:
                raise click.ClickException(
                    f"No account named {account_name!r} in {describe_database(settings)}. Check the name "
                    f"(`aceserve accounts list`), create it with `aceserve accounts create {account_name}`, or pass "
                    "--create-account to create it with unlimited credit (--credits-usd N for a balance)."
                ) from exc
            account = accounts.create_account(
                session, account_name, credits_usd=credits_usd, max_concurrent=settings.default_max_concurrent
            )
            credit = "unlimited credit" if credits_usd is None else f"${credits_usd:.4f} of credit"
            click.echo(f"Created account {account_name!r} with {credit}.", err=True)
        new_key = accounts.create_key(session, account)
    click.echo(new_key.secret)


@keys.command("list")
@store_options
@click.option("--account", "account_name", default=None, help="Only this account's keys.")
@main_guard
def keys_list(config_file: Path | None, account_name: str | None, **flags: Any) -> None:
    """List keys by prefix (never the secret): account, created, last used, revoked."""
    from aceserve.store import accounts

    db = open_db(build_settings(config_file, **flags))
    with db.read() as session:
        listed = accounts.list_keys(session, account_name)
    if not listed:
        click.echo("No keys.", err=True)
        return
    rows = [
        (key.prefix + "…", key.account_name, _when(key.created_at), _when(key.last_used_at), _when(key.revoked_at))
        for key in listed
    ]
    click.echo(_table(("PREFIX", "ACCOUNT", "CREATED", "LAST USED", "REVOKED"), rows))


@keys.command("revoke")
@store_options
@click.argument("prefix")
@main_guard
def keys_revoke(config_file: Path | None, prefix: str, **flags: Any) -> None:
    """Revoke the key(s) starting with PREFIX (at least 8 characters). Takes effect at once."""
    from aceserve.store import accounts

    db = open_db(build_settings(config_file, **flags))
    with db.write() as session:
        count = accounts.revoke_key(session, prefix)
    click.echo(f"Revoked {count} key(s).")


@click.group("accounts")
def accounts_group() -> None:
    """Manage accounts: credit, limits."""


@accounts_group.command("create")
@store_options
@click.argument("name")
@click.option("--credits-usd", type=float, default=None, help="Starting balance in USD (default: unlimited).")
@click.option("--max-concurrent", type=int, default=None, help="Tasks running at once before new ones are staged.")
@SHOW_SECRET
@main_guard
def accounts_create(
    config_file: Path | None,
    name: str,
    credits_usd: float | None,
    max_concurrent: int | None,
    show_secret: bool,
    **flags: Any,
) -> None:
    """Create an account (then give it a key with `aceserve keys create --account NAME`)."""
    from aceserve.store import accounts

    settings = build_settings(config_file, **flags)
    db = open_db(settings)
    with db.write() as session:
        account = accounts.create_account(
            session, name, credits_usd=credits_usd, max_concurrent=max_concurrent or settings.default_max_concurrent
        )
        click.echo(describe(account, show_secret=show_secret))


@accounts_group.command("list")
@store_options
@main_guard
def accounts_list(config_file: Path | None, **flags: Any) -> None:
    """List accounts: balance, frozen credit, concurrency limit, live keys."""
    from aceserve.store import accounts

    db = open_db(build_settings(config_file, **flags))
    with db.read() as session:
        listed = accounts.list_accounts(session)
    if not listed:
        click.echo("No accounts.", err=True)
        return
    rows = [
        (
            account.name,
            _balance(account),
            f"${units_to_usd(account.frozen_units):.4f}",
            str(account.max_concurrent),
            str(live),
            _when(account.created_at),
        )
        for account, live in listed
    ]
    click.echo(_table(("NAME", "AVAILABLE", "FROZEN", "MAX CONCURRENT", "LIVE KEYS", "CREATED"), rows))


@accounts_group.command("credit")
@store_options
@click.argument("name")
@click.argument("usd", type=float)
@SHOW_SECRET
@main_guard
def accounts_credit(config_file: Path | None, name: str, usd: float, show_secret: bool, **flags: Any) -> None:
    """Add USD credit to an account (negative to remove)."""
    from aceserve.store import accounts

    db = open_db(build_settings(config_file, **flags))
    with db.write() as session:
        account = accounts.get_account_by_name(session, name, lock=True)
        accounts.credit(session, account, usd, note="cli credit")
        click.echo(describe(account, show_secret=show_secret))


@accounts_group.command("show")
@store_options
@click.argument("name")
@SHOW_SECRET
@main_guard
def accounts_show(config_file: Path | None, name: str, show_secret: bool, **flags: Any) -> None:
    """Show an account's balance, frozen credit and limits."""
    from aceserve.store import accounts

    db = open_db(build_settings(config_file, **flags))
    with db.read() as session:
        click.echo(describe(accounts.get_account_by_name(session, name), show_secret=show_secret))


def describe(account: Account, *, show_secret: bool) -> str:
    text = (
        f"account {account.name} ({account.id}): available {_balance(account)}, "
        f"frozen ${units_to_usd(account.frozen_units):.4f}, max concurrent {account.max_concurrent}"
    )
    if show_secret:
        return f"{text}, webhook signing secret {account.webhook_secret}"
    return f"{text} (webhook signing secret: --show-secret)"


def _balance(account: Account) -> str:
    return "unlimited" if account.balance_units is None else f"${units_to_usd(account.balance_units):.4f}"


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    )

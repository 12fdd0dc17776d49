"""``aceserve``: serve, api, worker, keys, accounts, model, db."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from aceserve import __version__
from aceserve.domain.billing import units_to_usd
from aceserve.domain.errors import AceserveError
from aceserve.settings import Settings, load_settings
from aceserve.store import accounts
from aceserve.store.db import Database
from aceserve.store.migrate import open_database

log = logging.getLogger("aceserve")


def store_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--data-dir, --database-url and --config: every command acts on the same store as the server."""
    func = click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="ACESERVE_CONFIG",
        help="TOML file of settings (names as in ACESERVE_*, lowercase).",
    )(func)
    func = click.option(
        "--database-url",
        default=None,
        help="SQLAlchemy URL (default: sqlite file in the data dir; postgresql://... to scale out).",
    )(func)
    func = click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Directory for the SQLite database and local files (default ./data).",
    )(func)
    return func


def build_settings(config_file: Path | None, **flags: Any) -> Settings:
    try:
        return load_settings(config_file, **flags)
    except Exception as exc:
        raise click.UsageError(f"Invalid settings: {exc}") from exc


def open_db(settings: Settings) -> Database:
    return open_database(settings.database_url)


def setup_logging(level: str) -> None:
    logging.getLogger("alembic").setLevel(logging.WARNING)  # "Context impl SQLiteImpl" on every start
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)-7s %(name)s: %(message)s", stream=sys.stderr
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="aceserve")
def cli() -> None:
    """aceserve: PiAPI's Qubico/ace-step music API on your own hardware."""


def _main_guard(func: Callable[..., Any]) -> Callable[..., Any]:
    """Domain errors become one clear line and exit status 1, not a traceback."""
    import functools

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except AceserveError as exc:
            raise click.ClickException(exc.message) from exc

    return wrapper


# --- running ---------------------------------------------------------------------------------


def server_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option("--port", type=int, default=None, help="Port (default 8000).")(func)
    func = click.option("--host", default=None, help="Interface to listen on (default 127.0.0.1).")(func)
    return func


def engine_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option(
        "--lm-device", default=None, help="Device of the 5 Hz LM planner (default: the model's --device)."
    )(func)
    func = click.option(
        "--lm",
        default=None,
        help="The 5 Hz LM planner ('thinking'): a local directory or hub id of an ACE-Step 5 Hz LM, or 'none'. "
        "Default: the model directory's lm/ (the tiny checkpoint has one), else ACE-Step/acestep-5Hz-lm-0.6B for "
        "a hub model.",
    )(func)
    func = click.option("--device", default=None, help="cpu, cuda, cuda:N or auto (default auto).")(func)
    func = click.option(
        "--model",
        default=None,
        help="Hub id or local directory of a diffusers ACE-Step 1.5 checkpoint, or 'tiny' "
        "(random weights: noise, for trying the API). Default: the official turbo checkpoint.",
    )(func)
    return func


@cli.command()
@store_options
@server_options
@engine_options
@_main_guard
def serve(config_file: Path | None, **flags: Any) -> None:
    """Run everything on one machine: API, worker, webhook sender and file janitor."""
    from aceserve.cli.running import run_serve

    settings = build_settings(config_file, **flags)
    setup_logging(settings.log_level)
    run_serve(settings)


@cli.command()
@store_options
@server_options
@_main_guard
def api(config_file: Path | None, **flags: Any) -> None:
    """Run the API alone (stateless; run several behind a load balancer), with webhooks and janitor."""
    from aceserve.cli.running import run_api

    settings = build_settings(config_file, **flags)
    setup_logging(settings.log_level)
    run_api(settings)


@cli.command()
@store_options
@engine_options
@click.option("--public-url", default=None, help="Base URL clients use for the API (for output URLs).")
@_main_guard
def worker(config_file: Path | None, **flags: Any) -> None:
    """Run one worker on one device (one process per GPU), against the API's database."""
    from aceserve.cli.running import run_worker

    settings = build_settings(config_file, **flags)
    setup_logging(settings.log_level)
    run_worker(settings)


# --- accounts and keys -------------------------------------------------------------------------


@cli.group()
def keys() -> None:
    """Create and revoke API keys."""


@keys.command("create")
@store_options
@click.option("--account", "account_name", default="default", show_default=True, help="Account that owns the key.")
@_main_guard
def keys_create(config_file: Path | None, account_name: str, **flags: Any) -> None:
    """Print a new API key (shown once; stored hashed), creating the account if needed."""
    settings = build_settings(config_file, **flags)
    db = open_db(settings)
    with db.write() as session:
        try:
            account = accounts.get_account_by_name(session, account_name, lock=True)
        except AceserveError:
            account = accounts.create_account(
                session, account_name, credits_usd=None, max_concurrent=settings.default_max_concurrent
            )
            click.echo(f"Created account {account_name!r} with unlimited credit.", err=True)
        new_key = accounts.create_key(session, account)
    click.echo(new_key.secret)


@keys.command("revoke")
@store_options
@click.argument("prefix")
@_main_guard
def keys_revoke(config_file: Path | None, prefix: str, **flags: Any) -> None:
    """Revoke the key(s) starting with PREFIX (at least 8 characters). Takes effect at once."""
    db = open_db(build_settings(config_file, **flags))
    with db.write() as session:
        count = accounts.revoke_key(session, prefix)
    click.echo(f"Revoked {count} key(s).")


@cli.group("accounts")
def accounts_group() -> None:
    """Manage accounts: credit, limits."""


@accounts_group.command("create")
@store_options
@click.argument("name")
@click.option("--credits-usd", type=float, default=None, help="Starting balance in USD (default: unlimited).")
@click.option("--max-concurrent", type=int, default=None, help="Tasks running at once before new ones are staged.")
@_main_guard
def accounts_create(
    config_file: Path | None, name: str, credits_usd: float | None, max_concurrent: int | None, **flags: Any
) -> None:
    """Create an account (then give it a key with `aceserve keys create --account NAME`)."""
    settings = build_settings(config_file, **flags)
    db = open_db(settings)
    with db.write() as session:
        account = accounts.create_account(
            session, name, credits_usd=credits_usd, max_concurrent=max_concurrent or settings.default_max_concurrent
        )
        click.echo(_describe(account))


@accounts_group.command("credit")
@store_options
@click.argument("name")
@click.argument("usd", type=float)
@_main_guard
def accounts_credit(config_file: Path | None, name: str, usd: float, **flags: Any) -> None:
    """Add USD credit to an account (negative to remove)."""
    db = open_db(build_settings(config_file, **flags))
    with db.write() as session:
        account = accounts.get_account_by_name(session, name, lock=True)
        accounts.credit(session, account, usd, note="cli credit")
        click.echo(_describe(account))


@accounts_group.command("show")
@store_options
@click.argument("name")
@_main_guard
def accounts_show(config_file: Path | None, name: str, **flags: Any) -> None:
    """Show an account's balance, frozen credit and limits."""
    db = open_db(build_settings(config_file, **flags))
    with db.read() as session:
        click.echo(_describe(accounts.get_account_by_name(session, name)))


def _describe(account: Any) -> str:
    balance = "unlimited" if account.balance_units is None else f"${units_to_usd(account.balance_units):.4f}"
    return (
        f"account {account.name} ({account.id}): available {balance}, "
        f"frozen ${units_to_usd(account.frozen_units):.4f}, max concurrent {account.max_concurrent}, "
        f"webhook signing secret {account.webhook_secret}"
    )


# --- model and database ------------------------------------------------------------------------


@cli.group()
def model() -> None:
    """Model checkpoints."""


@model.command("make-tiny")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def model_make_tiny(directory: Path) -> None:
    """Write a tiny random ACE-Step 1.5 checkpoint, with a tiny 5 Hz LM planner in DIRECTORY/lm, to DIRECTORY
    (makes noise; for tests and trying the API)."""
    from aceserve.engine.tiny import make_tiny_checkpoint

    make_tiny_checkpoint(directory)
    click.echo(
        f"Wrote the tiny random checkpoint (and its planner LM in lm/) to {directory}. It makes noise, not music."
    )


@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@store_options
def db_upgrade(config_file: Path | None, **flags: Any) -> None:
    """Apply migrations (every command also does this on start)."""
    settings = build_settings(config_file, **flags)
    open_db(settings)
    click.echo(f"Database at head: {settings.database_url.split('@')[-1]}")

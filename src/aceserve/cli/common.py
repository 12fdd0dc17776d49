"""What every command shares: the store options, the settings, the database, clear errors."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from aceserve.domain.errors import AceserveError, NotFound
from aceserve.settings import Settings, load_settings

if TYPE_CHECKING:  # the store (SQLAlchemy) loads when a command opens it: client commands start faster
    from aceserve.store.db import Database

_DATABASE_SHOWN = "aceserve_database"


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
    """The migrated database; a "not found" from this command then names it."""
    from aceserve.store.migrate import open_database

    context = click.get_current_context(silent=True)
    if context is not None:
        context.meta[_DATABASE_SHOWN] = describe_database(settings)
    return open_database(settings.database_url)


def describe_database(settings: Settings) -> str:
    """The database as an operator recognises it (no password)."""
    from aceserve.store.db import describe_url

    return describe_url(settings.database_url)


def main_guard(func: Callable[..., Any]) -> Callable[..., Any]:
    """Domain errors become one clear line and exit status 1, not a traceback; a "not found" names the
    database it looked in."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except AceserveError as exc:
            message = exc.message
            context = click.get_current_context(silent=True)
            where = context.meta.get(_DATABASE_SHOWN) if context is not None else None
            if isinstance(exc, NotFound) and where:
                message = f"{message} (database: {where}; set --data-dir, --database-url or ACESERVE_DATA_DIR)"
            raise click.ClickException(message) from exc

    return wrapper

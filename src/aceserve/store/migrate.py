"""Schema migrations with Alembic, run programmatically (``aceserve`` commands upgrade on start)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from aceserve.domain.errors import ServiceUnavailable
from aceserve.store.db import Database, describe_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe to call on every start and from several processes."""
    config = alembic_config(engine)
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Serialize concurrent upgrades from several processes starting together.
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7243153)")
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def open_database(url: str) -> Database:
    """A ``Database`` on ``url`` with the schema brought to head: what every process starts with.
    ``ServiceUnavailable`` names the database and the reason when it cannot be opened."""
    try:
        db = Database(url)
    except (SQLAlchemyError, OSError, ValueError) as exc:
        raise _unavailable(url, exc) from exc
    try:
        upgrade(db.engine)
    except (SQLAlchemyError, OSError) as exc:
        db.dispose()
        raise _unavailable(url, exc) from exc
    except BaseException:
        db.dispose()
        raise
    return db


def _unavailable(url: str, exc: BaseException) -> ServiceUnavailable:
    cause = getattr(exc, "orig", None) or exc
    reason = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
    try:
        shown = describe_url(url)
    except Exception:
        shown = "(a URL that cannot be parsed)"
    return ServiceUnavailable(
        f"Cannot open the database {shown}: {reason}. Set it with --database-url or ACESERVE_DATABASE_URL "
        "(for SQLite, --data-dir or ACESERVE_DATA_DIR), and check that its server is running."
    )


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()

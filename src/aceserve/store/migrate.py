"""Schema migrations with Alembic, run programmatically (``aceserve`` commands upgrade on start)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from aceserve.store.db import Database

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
    """A ``Database`` on ``url`` with the schema brought to head: what every process starts with."""
    db = Database(url)
    try:
        upgrade(db.engine)
    except BaseException:
        db.dispose()
        raise
    return db


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()

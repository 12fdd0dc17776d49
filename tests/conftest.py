"""Shared fixtures: real databases.

Every test that takes ``database`` runs on a fresh migrated SQLite file, and also on a fresh
PostgreSQL database when ``ACESERVE_TEST_DATABASE_URL`` points at a server (copied from a migrated
template database, so each test starts empty and migrations run once per session). Under pytest-xdist
(``make pytest`` runs ``-n 2``) each worker process has a template of its own, its databases are named
after it, its ports come from a block of its own (``tests.api.server.free_port``) and its temp dirs from
pytest's per-worker base directory, so workers share nothing but the PostgreSQL server.
"""

from __future__ import annotations

import os

# The suite is offline: nothing may reach a model hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from aceserve.store.db import Database
from aceserve.store.migrate import open_database, upgrade

PG_URL = os.environ.get("ACESERVE_TEST_DATABASE_URL", "")
BACKENDS = ["sqlite", *(["postgresql"] if PG_URL else [])]
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
"""This test process: ``gw0``, ``gw1``... under pytest-xdist, else ``main``."""


class PostgresTemplate:
    """A migrated template database; each test gets a copy."""

    def __init__(self, url: str) -> None:
        self.base = make_url(url).set(drivername="postgresql+psycopg")
        self.admin = sa.create_engine(self.base, isolation_level="AUTOCOMMIT")
        self.template = f"aceserve_tmpl_{WORKER}_{uuid.uuid4().hex[:10]}"
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{self.template}"')
        engine = sa.create_engine(self.base.set(database=self.template))
        upgrade(engine)
        engine.dispose()

    def new_database(self) -> str:
        name = f"aceserve_t_{WORKER}_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return self.base.set(database=name).render_as_string(hide_password=False)

    def drop(self, url: str) -> None:
        name = make_url(url).database
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        self.drop(self.base.set(database=self.template).render_as_string(hide_password=False))
        self.admin.dispose()


@pytest.fixture(scope="session")
def pg_template() -> Iterator[PostgresTemplate | None]:
    if not PG_URL:
        yield None
        return
    template = PostgresTemplate(PG_URL)
    yield template
    template.close()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path, pg_template: PostgresTemplate | None) -> Iterator[str]:
    """URL of an empty, migrated database on each backend under test."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'aceserve.sqlite3'}"
        open_database(url).dispose()
        yield url
        return
    assert pg_template is not None
    url = pg_template.new_database()
    yield url
    pg_template.drop(url)


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    yield db
    db.dispose()

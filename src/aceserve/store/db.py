"""Database engine and transactions.

SQLite runs in WAL mode with a busy timeout; write transactions start with ``BEGIN IMMEDIATE`` so
two writers never deadlock on a lock upgrade (the second waits, then sees the first's commit).
PostgreSQL uses ordinary READ COMMITTED transactions with row locks where it matters.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

_IMMEDIATE = "aceserve_immediate"
_AFTER_COMMIT = "aceserve_after_commit"


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the session's transaction commits; drop it if it rolls back. For what must
    only be said of changes that happened (metrics, lifecycle log lines)."""
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


def _run_after_commit(session: Session) -> None:
    callbacks: list[Callable[[], None]] = session.info.pop(_AFTER_COMMIT, [])
    for callback in callbacks:
        try:
            callback()
        except Exception:  # telling about a change must never undo or hide it
            logging.getLogger("aceserve.store").exception("after-commit callback failed")


def _drop_after_commit(session: Session) -> None:
    session.info.pop(_AFTER_COMMIT, None)


class Database:
    """Owns the SQLAlchemy engine; hands out read and write sessions."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine = make_engine(url, echo=echo)
        self.is_postgres = self.engine.dialect.name == "postgresql"
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(self.engine.execution_options(**{_IMMEDIATE: True}), expire_on_commit=False)
        for factory in (self._read, self._write):
            event.listen(factory, "after_commit", _run_after_commit)
            event.listen(factory, "after_rollback", _drop_after_commit)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction, committed on success, rolled back on error."""
        with self._write() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._read() as session, session.begin():
            yield session

    def ping(self) -> None:
        """Raise if the database does not answer a trivial query."""
        with self.read() as session:
            session.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


def describe_url(url: str) -> str:
    """A database URL as it may be shown: the password hidden."""
    return make_url(url).render_as_string(hide_password=True)


def make_engine(url: str, *, echo: bool = False) -> Engine:
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("", "psycopg2"):
        # We ship psycopg 3; accept plain postgresql:// URLs.
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    kwargs.update(pool_pre_ping=True, pool_size=10, max_overflow=20)
    return create_engine(url, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us emit BEGIN ourselves (pysqlite's implicit transactions get in the way).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get(_IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

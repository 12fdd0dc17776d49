"""Database engine and transactions.

SQLite runs in WAL mode with a busy timeout; write transactions start with ``BEGIN IMMEDIATE`` so
two writers never deadlock on a lock upgrade (the second waits, then sees the first's commit), and the
writers of one process queue on a lock of their own first, so they take turns at once instead of
sleeping in SQLite's busy handler. PostgreSQL uses ordinary READ COMMITTED transactions with row locks
where it matters.

Connections stay open: the pool holds as many as the API's thread pool can use at once (its connect-time
set-up runs once per connection, not per request), and a connection idle for a while is checked with a
trivial query before it is handed out again (a restarted server's dead connections are replaced, without
a round trip per request). ``query()`` is for a read of one statement: it runs without BEGIN/COMMIT
(autocommit), which a single statement needs no more than a snapshot.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Select, create_engine, event, exc, text
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.orm import Session, sessionmaker

from aceserve.store.prepared import PreparedRead, RawConnections, RawTransaction, Writes

_IMMEDIATE = "aceserve_immediate"
_AUTOCOMMIT = "aceserve_autocommit"

POOL_SIZE = 48
"""Connections kept open: the API's thread pool (anyio's 40) and the background threads beside it."""

IDLE_CHECK_SECONDS = 10.0
"""A connection unused this long is pinged before use."""

_AFTER_COMMIT = "aceserve_after_commit"


def after_commit(writes: Writes, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the transaction (a session's or a raw one) commits; drop it if it rolls back.
    For what must only be said of changes that happened (metrics, lifecycle log lines)."""
    writes.info.setdefault(_AFTER_COMMIT, []).append(callback)


def _run_after_commit(writes: Writes) -> None:
    callbacks: list[Callable[[], None]] = writes.info.pop(_AFTER_COMMIT, [])
    for callback in callbacks:
        try:
            callback()
        except Exception:  # telling about a change must never undo or hide it
            logging.getLogger("aceserve.store").exception("after-commit callback failed")


def _drop_after_commit(writes: Writes) -> None:
    writes.info.pop(_AFTER_COMMIT, None)


class Database:
    """Owns the SQLAlchemy engine; hands out read and write sessions."""

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = POOL_SIZE) -> None:
        self.url = url
        self.engine = make_engine(url, echo=echo, pool_size=pool_size)
        self.is_postgres = self.engine.dialect.name == "postgresql"
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(self.engine.execution_options(**{_IMMEDIATE: True}), expire_on_commit=False)
        self._autocommit = self.engine.execution_options(
            **({"isolation_level": "AUTOCOMMIT"} if self.is_postgres else {_AUTOCOMMIT: True})
        )
        # SQLite has one writer at a time: this process's writers queue here first (see the docstring).
        self._writing: threading.RLock | None = None if self.is_postgres else threading.RLock()
        for factory in (self._read, self._write):
            event.listen(factory, "after_commit", _run_after_commit)
            event.listen(factory, "after_rollback", _drop_after_commit)
        self._raw = RawConnections(self.engine)
        self._nowait = None if self._writing is None else NowaitWrites(self.engine, self._writing)
        self._prepared: dict[int, tuple[Select[*tuple[Any, ...]], PreparedRead]] = {}

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction, committed on success, rolled back on error."""
        if self._writing is None:
            with self._write() as session, session.begin():
                yield session
            return
        with self._writing, self._write() as session, session.begin():
            yield session

    @contextmanager
    def raw_write(self, *, wait: bool = True) -> Iterator[RawTransaction]:
        """A write transaction for prepared statements alone (``store.prepared``), on a DBAPI connection
        kept for them: committed on success, rolled back on error, with ``after_commit`` callbacks run after
        the commit as for a session. SQLite begins it ``IMMEDIATE``, after this process's other writers.

        ``wait=False`` (SQLite): never wait for the write lock; raise ``WriterBusy`` at once when this process's
        or another's writer holds it (``NowaitWrites``), with nothing written."""
        if not wait:
            if self._nowait is None:
                raise WriterBusy("only SQLite writes without waiting")
            with self._nowait.transaction() as transaction:
                yield transaction
            _run_after_commit(transaction)
            return
        with self._writing or nullcontext():
            proxied = self._raw.take()
            try:
                cursor = proxied.dbapi_connection.cursor()
                cursor.execute("BEGIN" if self.is_postgres else "BEGIN IMMEDIATE")
            except BaseException:
                self._raw.discard(proxied)
                raise
            broken: list[bool] = []
            try:
                with committed(cursor, self.engine.dialect, on_broken=lambda: broken.append(True)) as transaction:
                    yield transaction
            finally:
                if broken:  # its rollback failed: the connection is gone or broken
                    self._raw.discard(proxied)
                else:
                    self._raw.give_back(proxied)
        _run_after_commit(transaction)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._read() as session, session.begin():
            yield session

    @contextmanager
    def query(self) -> Iterator[Connection]:
        """A connection for reads of one statement each, outside any transaction."""
        with self._autocommit.connect() as connection:
            yield connection

    def prepared(self, statement: Select[*tuple[Any, ...]]) -> PreparedRead:
        """``statement`` (a long-lived module constant) as a ``PreparedRead``: the hot path's reads of one
        statement, without a ``Connection``'s per-execution cost."""
        entry = self._prepared.get(id(statement))
        if entry is None or entry[0] is not statement:
            entry = (statement, PreparedRead(statement, self._raw))
            self._prepared[id(statement)] = entry
        return entry[1]

    def ping(self) -> None:
        """Raise if the database does not answer a trivial query."""
        with self.read() as session:
            session.execute(text("SELECT 1"))

    def dispose(self) -> None:
        if self._nowait is not None:
            self._nowait.close()
        self._raw.close()
        self.engine.dispose()


@contextmanager
def committed(cursor: Any, dialect: Dialect, *, on_broken: Callable[[], None]) -> Iterator[RawTransaction]:
    """A ``RawTransaction`` on ``cursor``, whose BEGIN was sent: COMMIT when the block ends, ROLLBACK (and its
    after-commit callbacks dropped) when it raises; ``on_broken`` when even the rollback fails (the error
    raised is the block's)."""
    transaction = RawTransaction(cursor, dialect)
    try:
        yield transaction
        cursor.execute("COMMIT")
    except BaseException:
        _drop_after_commit(transaction)
        try:
            cursor.execute("ROLLBACK")
        except Exception:
            on_broken()
        raise


def _is_busy(error: Exception) -> bool:
    """SQLite's SQLITE_BUSY ("database is locked"), as the sqlite3 module words it."""
    text = str(error)
    return "locked" in text or "busy" in text


class WriterBusy(Exception):
    """A write that must not wait found the write lock taken (``Database.raw_write(wait=False)``)."""


CHECKPOINT_EVERY = 1000
"""Commits of ``NowaitWrites`` between two checkpoints of the WAL it asks for: at a create's dozen or so pages,
about 14,000 pages (some 55 MB of WAL; SQLite's own default is 1,000 pages). Each checkpoint copies every
page once however often it changed, so fewer, larger ones cost less (about 37 ms each on the bench machine,
the create's p99)."""


class NowaitWrites:
    """SQLite write transactions that never wait, for a caller that must not block (the API's event loop):
    one connection of their own with SQLite's busy timeout at 0, taken only when this process's writer lock
    is free at once. The connection never checkpoints the WAL at commit itself (that may sync the database
    file); every ``CHECKPOINT_EVERY`` commits a thread of its own runs a checkpoint holding this process's
    writer lock, so the checkpoint catches up with the last commit and the next write starts the WAL over
    (a checkpoint beside a stream of commits never catches up, and the WAL grows without end)."""

    def __init__(self, engine: Engine, writing: threading.RLock) -> None:
        self.engine = engine
        self._writing = writing
        self._proxied: Any = None
        self._commits = 0
        self._checkpointing = threading.Lock()

    def _connection(self) -> Any:
        if self._proxied is None:
            proxied = self.engine.raw_connection()
            proxied.detach()  # ours: closing it closes the DBAPI connection
            cursor = proxied.cursor()
            cursor.execute("PRAGMA busy_timeout=0")
            cursor.execute("PRAGMA wal_autocheckpoint=0")
            cursor.close()
            self._proxied = proxied
        return self._proxied

    @contextmanager
    def transaction(self) -> Iterator[RawTransaction]:
        if not self._writing.acquire(blocking=False):
            raise WriterBusy("this process's writer lock is taken")
        operational_error = self.engine.dialect.loaded_dbapi.OperationalError
        try:
            cursor = self._connection().cursor()
            try:
                cursor.execute("BEGIN IMMEDIATE")
            except operational_error as error:
                if _is_busy(error):
                    raise WriterBusy("another process holds the write lock") from error
                raise
            try:
                # broken: the next transaction opens a new connection
                with committed(cursor, self.engine.dialect, on_broken=self.close) as transaction:
                    yield transaction
            except operational_error as error:
                # Holding the write lock, a statement is refused only while another connection recovers the
                # WAL after a crash: rolled back, the write is as if it never started, and may be tried again.
                if _is_busy(error):
                    raise WriterBusy("the database was busy (another connection recovering the WAL)") from error
                raise
        finally:
            self._writing.release()
        self._commits += 1
        if self._commits % CHECKPOINT_EVERY == 0:
            self._checkpoint_soon()

    def _checkpoint_soon(self) -> None:
        if not self._checkpointing.acquire(blocking=False):
            return  # one is running
        threading.Thread(target=self._checkpoint, name="wal-checkpoint", daemon=True).start()

    def _checkpoint(self) -> None:
        try:
            proxied = self.engine.raw_connection()  # outside any transaction (autocommit), as a checkpoint must be
            try:
                with self._writing:  # creates meanwhile pause (api.reads.Creates)
                    proxied.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)")
            finally:
                proxied.close()
        except Exception:
            logging.getLogger("aceserve.store").exception("WAL checkpoint failed")
        finally:
            self._checkpointing.release()

    def close(self) -> None:
        proxied, self._proxied = self._proxied, None
        if proxied is not None:
            with contextlib.suppress(Exception):
                proxied.close()


def describe_url(url: str) -> str:
    """A database URL as it may be shown: the password hidden."""
    return make_url(url).render_as_string(hide_password=True)


def make_engine(url: str, *, echo: bool = False, pool_size: int = POOL_SIZE) -> Engine:
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs.update(pool_size=pool_size, max_overflow=0, pool_timeout=60)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("", "psycopg2"):
        # We ship psycopg 3; accept plain postgresql:// URLs.
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    kwargs.update(pool_size=pool_size, max_overflow=pool_size // 2, pool_timeout=60)
    engine = create_engine(url, **kwargs)
    _check_idle_connections(engine)
    return engine


def _check_idle_connections(engine: Engine) -> None:
    """Ping a connection before use only when it sat idle (pre-ping without a round trip per request)."""

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("idle_since", time.monotonic()) < IDLE_CHECK_SECONDS:
            return
        try:
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
            if not getattr(dbapi_connection, "autocommit", True):
                dbapi_connection.rollback()
        except Exception as error:  # the pool replaces it with a new connection
            raise exc.DisconnectionError(f"idle connection is gone: {error}") from error


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
        options = connection.get_execution_options()
        if options.get(_AUTOCOMMIT, False):
            return  # pysqlite sends no BEGIN of its own (isolation_level None): each statement commits
        connection.exec_driver_sql("BEGIN IMMEDIATE" if options.get(_IMMEDIATE, False) else "BEGIN")

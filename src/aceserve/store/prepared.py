"""Prepared reads: a SQLAlchemy Core ``SELECT`` compiled once for the database's dialect and run on a plain
DBAPI connection, for the API's hot path (``GET /api/v1/task/{id}``, the key check).

Running a Core statement through a ``Connection`` costs about ten times the query itself on SQLite
(execution context, events, the pool's checkout and reset, result objects). A ``PreparedRead`` keeps what
does not change between executions: the SQL string, the order of its parameters, the literal values bound
at build time and each column's result processing (the same converters SQLAlchemy applies: datetimes
parsed, JSON decoded, ``TypeDecorator`` hooks run). Its rows are named tuples with the statement's column
names, so they read like Core rows.

Connections come from ``RawConnections``: a few DBAPI connections taken from the engine's pool (so the
engine's connect-time set-up, SQLite's PRAGMAs, has run on them) and kept for these reads only, each in
autocommit (one statement needs no transaction). A connection that the database dropped (a restarted
PostgreSQL) is discarded and the read retried once on a new one.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections import deque, namedtuple
from collections.abc import Callable, Mapping
from typing import Any, cast

from sqlalchemy import Engine, Select
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

MAX_IDLE = 16
"""Connections kept between reads; more are opened when more reads run at once, and closed afterwards."""


class RawConnections:
    """DBAPI connections for prepared reads, taken from ``engine``'s pool and kept out of it."""

    def __init__(self, engine: Engine, *, max_idle: int = MAX_IDLE) -> None:
        self.engine = engine
        self.dialect: Dialect = engine.dialect
        self.max_idle = max_idle
        self._idle: deque[Any] = deque()
        self._lock = threading.Lock()
        self._closed = False

    def _open(self) -> Any:
        proxied = self.engine.raw_connection()
        proxied.detach()  # ours from now on: closing it closes the DBAPI connection
        dbapi_connection = proxied.dbapi_connection
        assert dbapi_connection is not None
        if self.dialect.name == "postgresql":
            dbapi_connection.autocommit = True
        # SQLite: the engine's connect hook already set isolation_level None (autocommit)
        return proxied

    def take(self) -> Any:
        try:
            return self._idle.pop()
        except IndexError:
            return self._open()

    def give_back(self, proxied: Any) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < self.max_idle:
                self._idle.append(proxied)
                return
        proxied.close()

    def discard(self, proxied: Any) -> None:
        with contextlib.suppress(Exception):  # a broken connection may fail to close; it is gone either way
            proxied.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = list(self._idle), deque()
        for proxied in idle:
            self.discard(proxied)


class PreparedStatement:
    """``statement`` (a ``SELECT``, or an ``INSERT``/``UPDATE`` with or without ``RETURNING``) compiled once for
    ``dialect``; ``run`` executes it on a DBAPI cursor with named parameters (the statement's ``bindparam``
    names), each value converted by its type's bind processing as SQLAlchemy would, and returns the rows
    (named tuples with the statement's column names) converted by the columns' result processing."""

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        self.dialect = dialect
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        self.sql = compiled.string
        if any(bind.expanding for bind in compiled.binds.values()):
            raise ValueError(
                f"a prepared statement cannot hold an IN list parameter (expanded per execution): {self.sql}"
            )
        # values bound when the statement was built (literals such as the 1 in ``count(*) + 1``)
        self._defaults = {name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required}
        self._bind_processors: dict[str, Callable[[Any], Any]] = {}
        self._none_unchanged: set[str] = set()
        """Parameters whose processing leaves None as None (a datetime's does; JSON's makes it 'null')."""
        for name, bind in compiled.binds.items():
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                self._bind_processors[name] = processor
                if _keeps_none(processor):
                    self._none_unchanged.add(name)
        self._positional = dialect.positional
        self._order: tuple[str, ...] = tuple(compiled.positiontup or ())
        # positional: each parameter's place with its processing, for one pass over the values
        self._steps = tuple(
            (name, self._bind_processors.get(name), name in self._none_unchanged) for name in self._order
        )
        columns = list(getattr(statement, "exported_columns", ()))
        self._types = [column.type.dialect_impl(dialect) for column in columns]
        self._processors: list[tuple[int, Callable[[Any], Any]]] | None = None  # at the first read
        names = [str(column.key or "") for column in columns]
        self.row_type = namedtuple("PreparedRow", names, rename=True)  # type: ignore[misc]  # unnamed: _0, _1

    def parameters(self, params: Mapping[str, Any]) -> Any:
        """The DBAPI parameters for ``params``: each value processed as SQLAlchemy would (a None that its
        processing keeps None is passed as it is)."""
        values = {**self._defaults, **params} if self._defaults else params
        if self._positional:
            return tuple(
                value if processor is None or (value is None and keeps_none) else processor(value)
                for name, processor, keeps_none in self._steps
                for value in (values[name],)
            )
        processed = dict(values)
        for name, processor in self._bind_processors.items():
            if name in processed and not (processed[name] is None and name in self._none_unchanged):
                processed[name] = processor(processed[name])
        return processed

    def run(self, cursor: Any, params: Mapping[str, Any]) -> list[Any]:
        cursor.execute(self.sql, self.parameters(params))
        if not self._types:
            return []
        return self.convert(cursor.fetchall(), cursor.description)

    def first(self, cursor: Any, params: Mapping[str, Any]) -> Any | None:
        found = self.run(cursor, params)
        return found[0] if found else None

    def convert(self, raw: list[Any], description: Any) -> list[Any]:
        processors = self._processors
        if processors is None:
            processors = self._processors = self._result_processors(description)
        make = self.row_type._make  # type: ignore[attr-defined]
        if not processors:
            return [make(row) for row in raw]
        result = []
        for row in raw:
            values = list(row)
            for index, processor in processors:
                values[index] = processor(values[index])
            result.append(make(values))
        return result

    def _result_processors(self, description: Any) -> list[tuple[int, Callable[[Any], Any]]]:
        """Each column's converter, given the driver's type code (some depend on it, PostgreSQL's numbers)."""
        processors: list[tuple[int, Callable[[Any], Any]]] = []
        for index, (type_, column) in enumerate(zip(self._types, description, strict=True)):
            processor = type_.result_processor(self.dialect, column[1])
            if processor is not None:
                processors.append((index, processor))
        return processors


def _keeps_none(processor: Callable[[Any], Any]) -> bool:
    try:
        return processor(None) is None
    except Exception:  # a processor that refuses None: always call it, as SQLAlchemy does
        return False


_PREPARED: weakref.WeakKeyDictionary[Dialect, dict[int, tuple[ClauseElement, PreparedStatement]]] = (
    weakref.WeakKeyDictionary()
)
_PREPARING = threading.Lock()


def prepare(statement: ClauseElement, dialect: Dialect) -> PreparedStatement:
    """``statement`` (a long-lived module constant) prepared for ``dialect``, once per engine."""
    entry = _PREPARED.get(dialect, {}).get(id(statement))
    if entry is None or entry[0] is not statement:
        entry = (statement, PreparedStatement(statement, dialect))
        with _PREPARING:
            _PREPARED.setdefault(dialect, {})[id(statement)] = entry
    return entry[1]


class RawTransaction:
    """A write transaction on a DBAPI connection of its own, without an ORM session (``Database.raw_write``):
    what the create path's prepared statements need, at about a third of a session's cost on SQLite.
    ``info`` holds what ``db.after_commit`` registers, as a session's ``info`` does."""

    def __init__(self, cursor: Any, dialect: Dialect) -> None:
        self.cursor = cursor
        self.dialect = dialect
        self.info: dict[str, Any] = {}


Writes = Session | RawTransaction
"""Where a store function that runs only prepared statements writes: a session's transaction or a raw one."""


def cursor_of(writes: Writes) -> Any:
    """A DBAPI cursor inside the transaction (a session's is begun if it was not)."""
    if isinstance(writes, RawTransaction):
        return writes.cursor
    return writes.connection().connection.cursor()


def dialect_of(writes: Writes) -> Dialect:
    return writes.dialect if isinstance(writes, RawTransaction) else writes.get_bind().dialect


class PreparedRead:
    """A ``PreparedStatement`` of one ``SELECT`` run on ``connections`` (outside any transaction)."""

    def __init__(self, statement: Select[*tuple[Any, ...]], connections: RawConnections) -> None:
        self.connections = connections
        self.statement = PreparedStatement(statement, connections.dialect)

    def rows(self, params: Mapping[str, Any]) -> list[Any]:
        parameters = self.statement.parameters(params)
        raw, description = self._execute(parameters)
        return self.statement.convert(raw, description)

    def first(self, params: Mapping[str, Any]) -> Any | None:
        found = self.rows(params)
        return found[0] if found else None

    def _execute(self, parameters: Any) -> tuple[list[Any], Any]:
        connections = self.connections
        for attempt in (1, 2):
            proxied = connections.take()
            cursor = None
            try:
                cursor = proxied.dbapi_connection.cursor()
                cursor.execute(self.statement.sql, parameters)
                fetched = cursor.fetchall()
                description = cursor.description
                cursor.close()
            except BaseException as error:
                dropped = isinstance(error, Exception) and _is_disconnect(connections.dialect, error, proxied, cursor)
                connections.discard(proxied) if dropped else connections.give_back(proxied)
                if dropped and attempt == 1:
                    continue  # once more, on a new connection
                raise
            connections.give_back(proxied)
            return cast(list[Any], fetched), description
        raise AssertionError("unreachable")


def _is_disconnect(dialect: Dialect, error: Exception, proxied: Any, cursor: Any) -> bool:
    if not isinstance(error, dialect.loaded_dbapi.Error):
        return False
    try:
        return bool(dialect.is_disconnect(error, proxied.dbapi_connection, cursor))
    except Exception:
        return True

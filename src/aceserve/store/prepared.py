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
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, cast

from sqlalchemy import Engine, Select
from sqlalchemy.engine.interfaces import Dialect

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


class PreparedRead:
    """``statement`` compiled for ``connections``' dialect; ``rows``/``first`` run it with named parameters
    (the statement's ``bindparam`` names; values are passed to the driver as they are)."""

    def __init__(self, statement: Select[*tuple[Any, ...]], connections: RawConnections) -> None:
        self.connections = connections
        dialect = connections.dialect
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        # values bound when the statement was built (literals such as the 1 in ``count(*) + 1``)
        self._defaults = {name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required}
        self._positional = dialect.positional
        self._order: tuple[str, ...] = tuple(compiled.positiontup or ())
        self._types = [column.type.dialect_impl(dialect) for column in statement.selected_columns]
        self._processors: list[tuple[int, Callable[[Any], Any]]] | None = None  # at the first read
        names = [str(column.key) for column in statement.selected_columns]
        self.row_type = cast(type[tuple[Any, ...]], NamedTuple("PreparedRow", [(name, Any) for name in names]))

    def _parameters(self, params: Mapping[str, Any]) -> Any:
        values = {**self._defaults, **params}
        if self._positional:
            return tuple(values[name] for name in self._order)
        return values

    def _result_processors(self, description: Any) -> list[tuple[int, Callable[[Any], Any]]]:
        """Each column's converter, given the driver's type code (some depend on it, PostgreSQL's numbers)."""
        dialect = self.connections.dialect
        processors: list[tuple[int, Callable[[Any], Any]]] = []
        for index, (type_, column) in enumerate(zip(self._types, description, strict=True)):
            processor = type_.result_processor(dialect, column[1])
            if processor is not None:
                processors.append((index, processor))
        return processors

    def rows(self, params: Mapping[str, Any]) -> list[Any]:
        parameters = self._parameters(params)
        raw, description = self._execute(parameters)
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
                cursor.execute(self.sql, parameters)
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

"""An unexpected error (here: the tasks table gone under a live server) answers 500 in the envelope,
logs exactly one line, and the keep-alive connection serves the client's next request."""

from __future__ import annotations

import json
import logging
import socket
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.api.server import make_settings, running_server


def _exchange(sock: socket.socket, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send one HTTP/1.1 request on an open connection and read its whole answer."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    length = int(headers["content-length"])
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection mid-answer"
        body += chunk
    return int(lines[0].split()[1]), headers, body


def test_an_unexpected_error_is_a_500_envelope_one_log_line_and_keeps_the_connection(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with running_server(make_settings(tmp_path / "d", database_url)) as server:
        engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE tasks RENAME TO tasks_gone")
        host, port = server.url.removeprefix("http://").split(":")
        path = "/api/v1/task/00000000-0000-4000-8000-000000000000"
        get = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nx-api-key: {server.key}\r\n\r\n".encode()
        info = f"GET /account/info HTTP/1.1\r\nHost: {host}\r\nx-api-key: {server.key}\r\n\r\n".encode()
        try:
            with socket.create_connection((host, int(port)), timeout=10) as sock:
                for _ in range(2):
                    status, headers, body = _exchange(sock, get)
                    assert status == 500 and headers.get("connection") != "close"
                    assert json.loads(body) == {
                        "code": 500,
                        "data": None,
                        "message": "Internal server error; the failure was logged on the server.",
                    }
                    assert "tasks" not in body.decode()  # no internals in the answer
                status, _, body = _exchange(sock, info)  # the same connection still serves
                assert status == 200 and json.loads(body)["code"] == 200
        finally:
            with engine.begin() as conn:
                conn.exec_driver_sql("ALTER TABLE tasks_gone RENAME TO tasks")
            engine.dispose()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.name for r in errors] == ["aceserve.api", "aceserve.api"], [r.getMessage() for r in errors]
    for record in errors:
        line = record.getMessage()
        assert "\n" not in line and record.exc_info is None
        assert line.startswith("unhandled error on GET /api/v1/task/00000000-0000-4000-8000-000000000000: "), line
        # the driver's own error (the poll reads on DBAPI connections), or SQLAlchemy's wrapping of it
        assert any(name in line for name in ("OperationalError", "ProgrammingError", "UndefinedTable")), line

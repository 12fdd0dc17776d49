"""The reference for ``bench/api.py``: the least a FastAPI app on the same uvicorn must do to answer the
same two requests. Not part of aceserve; it imports nothing from it.

    python bench/reference.py --database-url URL --port N

- ``GET /api/v1/task/{id}``: checks the ``x-api-key`` header against a key table and reads the task in
  one query, answering the stored task JSON in the envelope.
- ``POST /api/v1/task``: checks the key the same way, validates the body with pydantic and inserts one
  row in a write transaction (SQLite in WAL mode with ``BEGIN IMMEDIATE``; PostgreSQL), answering the row.

Connections: one per thread, kept open (stdlib sqlite3; psycopg). Keys and tasks live in two tables of
its own (``ref_keys``, ``ref_tasks``) in the database it is given.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import threading
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field


class Input(BaseModel):
    style_prompt: str = Field(default="", max_length=2000)
    lyrics: str = Field(default="", max_length=10000)
    duration: float = Field(default=30, gt=0, le=240)


class CreateBody(BaseModel):
    model: Literal["Qubico/ace-step"]
    task_type: Literal["txt2audio"]
    input: Input
    config: dict[str, Any] = Field(default_factory=dict)


def envelope(data: str) -> bytes:
    return ('{"code":200,"data":' + data + ',"message":"success"}').encode()


UNAUTHORIZED = Response(b'{"code":401,"data":null,"message":"Invalid API key."}', 401, media_type="application/json")
NOT_FOUND = Response(b'{"code":404,"data":null,"message":"Task not found."}', 404, media_type="application/json")


class Store:
    """One connection per thread, kept open."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.postgres = url.startswith("postgresql")
        self.mark = "%s" if self.postgres else "?"
        self.local = threading.local()

    def conn(self) -> Any:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            if self.postgres:
                import psycopg

                conn = psycopg.connect(self.url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
            else:
                import sqlite3

                conn = sqlite3.connect(self.url.removeprefix("sqlite:///"), isolation_level=None, timeout=30)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            self.local.conn = conn
        return conn

    def sql(self, query: str) -> str:
        return query.replace("?", self.mark)

    def setup(self) -> None:
        conn = self.conn()
        conn.execute("CREATE TABLE IF NOT EXISTS ref_keys (key_hash VARCHAR(64) PRIMARY KEY, account VARCHAR(36))")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS ref_tasks (id VARCHAR(36) PRIMARY KEY, account VARCHAR(36), body TEXT)"
        )


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_reference_app(url: str) -> FastAPI:
    store = Store(url)
    store.setup()
    app = FastAPI()
    get_sql = store.sql(
        "SELECT t.body FROM ref_tasks t JOIN ref_keys k ON k.account = t.account WHERE k.key_hash = ? AND t.id = ?"
    )
    key_sql = store.sql("SELECT account FROM ref_keys WHERE key_hash = ?")
    insert_sql = store.sql("INSERT INTO ref_tasks (id, account, body) VALUES (?, ?, ?)")

    @app.get("/api/v1/task/{task_id}")
    def get_task(task_id: str, request: Request) -> Response:
        key = request.headers.get("x-api-key", "")
        row = store.conn().execute(get_sql, (hash_key(key), task_id)).fetchone()
        if row is None:
            return NOT_FOUND
        return Response(envelope(row[0]), media_type="application/json")

    @app.post("/api/v1/task")
    def create_task(body: CreateBody, request: Request) -> Response:
        conn = store.conn()
        found = conn.execute(key_sql, (hash_key(request.headers.get("x-api-key", "")),)).fetchone()
        if found is None:
            return UNAUTHORIZED
        task_id = str(uuid.uuid4())
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        task = {
            "task_id": task_id,
            "model": body.model,
            "task_type": body.task_type,
            "status": "pending",
            "config": body.config,
            "input": body.input.model_dump(),
            "output": None,
            "meta": {"created_at": now, "usage": {"type": "llm", "frozen": 0, "consume": 0}},
            "error": {"code": 0, "raw_message": "", "message": "", "detail": None},
        }
        text = json.dumps(task)
        if store.postgres:
            with conn.transaction():
                conn.execute(insert_sql, (task_id, found[0], text))
        else:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(insert_sql, (task_id, found[0], text))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return Response(envelope(text), media_type="application/json")

    return app


def seed(url: str, key: str, body: str) -> str:
    """Add ``key`` for a new account and one task with ``body`` (the task JSON); returns the task id."""
    store = Store(url)
    store.setup()
    account, task_id = str(uuid.uuid4()), str(uuid.uuid4())
    conn = store.conn()
    conn.execute(store.sql("INSERT INTO ref_keys (key_hash, account) VALUES (?, ?)"), (hash_key(key), account))
    conn.execute(store.sql("INSERT INTO ref_tasks (id, account, body) VALUES (?, ?, ?)"), (task_id, account, body))
    conn.close()
    return task_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args()
    uvicorn.run(create_reference_app(args.database_url), host="127.0.0.1", port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()

"""Alembic environment: runs on the connection handed in by ``aceserve.store.migrate``."""

from __future__ import annotations

from alembic import context

from aceserve.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only when someone runs the alembic CLI by hand
    raise RuntimeError("Run migrations with `aceserve db upgrade` (aceserve.store.migrate.upgrade).")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()

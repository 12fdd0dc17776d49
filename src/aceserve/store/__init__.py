"""Persistence: SQLAlchemy 2 tables, Alembic migrations, and the queue that lives in the tasks table."""

from aceserve.store import changes  # registers the hook that announces every task change

__all__ = ["changes"]

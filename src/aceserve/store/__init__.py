"""Persistence: SQLAlchemy 2 tables, Alembic migrations, and the queue that lives in the tasks table."""

"""tasks: a partial index of staged tasks (created_at, id), as pending ones have: the create step counts the
queue without scanning every task, and promotion finds the oldest staged task

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 08:35:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_tasks_staged_created",
        "tasks",
        ["created_at", "id"],
        postgresql_where=sa.text("status = 'staged'"),
        sqlite_where=sa.text("status = 'staged'"),
    )


def downgrade() -> None:
    op.drop_index("ix_tasks_staged_created", table_name="tasks")

"""queue_counts: waiting tasks (pending or staged) per account and in all, kept by triggers on SQLite, so a
create reads its queue limits in two rows instead of counting the queue (PostgreSQL keeps counting on its
partial indexes and leaves the table empty: ``models.QueueCount`` says why)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

WAITING = "('pending', 'staged')"

TRIGGERS = {
    "tasks_queue_count_insert": f"""
        CREATE TRIGGER tasks_queue_count_insert AFTER INSERT ON tasks WHEN NEW.status IN {WAITING}
        BEGIN
            INSERT INTO queue_counts (account_id, waiting) VALUES (NEW.account_id, 1), ('', 1)
            ON CONFLICT (account_id) DO UPDATE SET waiting = waiting + 1;
        END""",
    "tasks_queue_count_delete": f"""
        CREATE TRIGGER tasks_queue_count_delete AFTER DELETE ON tasks WHEN OLD.status IN {WAITING}
        BEGIN
            UPDATE queue_counts SET waiting = waiting - 1 WHERE account_id IN (OLD.account_id, '');
        END""",
    # Only a change into or out of waiting (or of the owner) moves a count: staged to pending moves none.
    "tasks_queue_count_update": f"""
        CREATE TRIGGER tasks_queue_count_update AFTER UPDATE OF status, account_id ON tasks
        WHEN (OLD.status IN {WAITING}) IS NOT (NEW.status IN {WAITING}) OR OLD.account_id IS NOT NEW.account_id
        BEGIN
            UPDATE queue_counts SET waiting = waiting - 1
            WHERE OLD.status IN {WAITING} AND account_id IN (OLD.account_id, '');
            INSERT INTO queue_counts (account_id, waiting)
            SELECT NEW.account_id, 1 WHERE NEW.status IN {WAITING}
            UNION ALL SELECT '', 1 WHERE NEW.status IN {WAITING}
            ON CONFLICT (account_id) DO UPDATE SET waiting = waiting + 1;
        END""",
}


def upgrade() -> None:
    op.create_table(
        "queue_counts",
        sa.Column("account_id", sa.String(36), primary_key=True),
        sa.Column("waiting", sa.Integer(), nullable=False),
    )
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(
        f"INSERT INTO queue_counts (account_id, waiting) "
        f"SELECT account_id, count(*) FROM tasks WHERE status IN {WAITING} GROUP BY account_id "
        f"UNION ALL SELECT '', count(*) FROM tasks WHERE status IN {WAITING}"
    )
    for statement in TRIGGERS.values():
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("queue_counts")

"""files.storage_key: unique index, for the janitor's orphan lookups

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 07:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.create_index("ix_files_storage_key", ["storage_key"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.drop_index("ix_files_storage_key")

"""Money in 1e-6 USD (the usage unit PiAPI shows: 5000 for 10 s), and files.seconds

Amounts were kept in 1e-7 USD. Each ledger row is divided by ten (rounded toward zero), then every
balance, frozen amount and task charge is summed again from the ledger, so the ledger rule (an
account's balance is the sum of its rows) still holds exactly. files.seconds records the audio's
length, so a task that takes one of this server's files as input knows its cost at create.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_RECOMPUTE = [
    "UPDATE accounts SET frozen_units = "
    "(SELECT COALESCE(SUM(frozen_delta), 0) FROM ledger WHERE ledger.account_id = accounts.id)",
    "UPDATE accounts SET balance_units = "
    "(SELECT COALESCE(SUM(available_delta), 0) FROM ledger WHERE ledger.account_id = accounts.id) "
    "WHERE balance_units IS NOT NULL",
    "UPDATE tasks SET frozen_units = "
    "(SELECT COALESCE(SUM(frozen_delta), 0) FROM ledger WHERE ledger.task_id = tasks.id)",
    "UPDATE tasks SET consumed_units = "
    "(SELECT COALESCE(-SUM(available_delta), 0) FROM ledger WHERE ledger.task_id = tasks.id AND kind = 'consume')",
]


def _rescale(factor_sql: str) -> None:
    op.execute(
        f"UPDATE ledger SET available_delta = available_delta {factor_sql}, frozen_delta = frozen_delta {factor_sql}"
    )
    for statement in _RECOMPUTE:
        op.execute(statement)


def upgrade() -> None:
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seconds", sa.Float(), nullable=True))
    _rescale("/ 10")


def downgrade() -> None:
    _rescale("* 10")
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.drop_column("seconds")

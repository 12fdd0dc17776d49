from typing import Any

from aceserve.domain.states import TaskType
from aceserve.store.clock import utcnow
from aceserve.store.db import Database
from aceserve.store.migrate import current_revision, upgrade


def test_migrations_reach_head_and_are_idempotent(database: Database) -> None:
    upgrade(database.engine)  # a second upgrade on a migrated database is a no-op
    assert current_revision(database.engine) == "0006"


def test_models_and_migrations_agree(database: Database) -> None:
    """Autogenerate finds nothing to do: the migrations build exactly the schema the models declare."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from aceserve.store.models import Base

    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_money_moves_to_the_usage_unit_and_every_balance_still_adds_up_from_the_ledger(database: Database) -> None:
    """0003 turns amounts in 1e-7 USD into 1e-6 USD: $1 credited, a 12.345 s task consumed, a 20 s task
    frozen. Balances, frozen amounts and task charges are summed again from the divided ledger."""
    from alembic import command

    from aceserve.store import accounts
    from aceserve.store.migrate import alembic_config
    from aceserve.store.models import Account, Task

    config = alembic_config(database.engine)
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0002")
    with database.write() as session:
        account = Account(
            id="a1", name="old", balance_units=0, frozen_units=0, max_concurrent=5, plan="credits",
            webhook_secret="whsec_x", created_at=utcnow(),
        )  # fmt: skip
        session.add(account)
        session.flush()
        account.balance_units = 10_000_000  # $1 in the old unit, with its ledger row
        accounts._ledger(session, "a1", None, "credit", 10_000_000, 0, "initial credit")
        done = old_task(session, account, 150_000)
        accounts.settle(session, "a1", done.id, 150_000, 61_725)
        done.frozen_units, done.consumed_units = 0, 61_725
        waiting = old_task(session, account, 200_000)
    upgrade(database.engine)
    with database.read() as session:
        account = session.get(Account, "a1")
        assert account is not None
        assert (account.balance_units, account.frozen_units) == (1_000_000 - 6_172 - 20_000, 20_000)
        assert accounts.ledger_sums(session, "a1") == (account.balance_units, account.frozen_units)
        finished, pending = session.get(Task, done.id), session.get(Task, waiting.id)
        assert finished is not None and pending is not None
        assert (finished.frozen_units, finished.consumed_units) == (0, 6_172)
        assert (pending.frozen_units, pending.consumed_units) == (20_000, 0)


def old_task(session: Any, account: Any, frozen_units: int) -> Any:
    """A pending task with its credit frozen, written as the schema of 0002 holds it (the create step of
    today reads tables that came later)."""
    from aceserve.store import accounts
    from aceserve.store.clock import new_uuid
    from aceserve.store.models import Task

    now = utcnow()
    task = Task(
        id=new_uuid(), account_id=account.id, task_type=TaskType.TXT2AUDIO, status="pending",
        input={"style_prompt": "x"}, config={"service_mode": "", "webhook_config": {"endpoint": "", "secret": ""}},
        output=None, frozen_units=frozen_units, created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(task)
    accounts.freeze(session, account, task.id, frozen_units)
    session.flush()
    return task

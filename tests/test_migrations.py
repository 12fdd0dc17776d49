from aceserve.store.db import Database
from aceserve.store.migrate import current_revision, upgrade


def test_migrations_reach_head_and_are_idempotent(database: Database) -> None:
    upgrade(database.engine)  # a second upgrade on a migrated database is a no-op
    assert current_revision(database.engine) == "0003"


def test_models_and_migrations_agree(database: Database) -> None:
    """Autogenerate finds nothing to do: the migrations build exactly the schema the models declare."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from aceserve.store.models import Base

    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []

from aceserve.store.db import Database
from aceserve.store.migrate import current_revision, upgrade


def test_migrations_reach_head_and_are_idempotent(database: Database) -> None:
    upgrade(database.engine)  # a second upgrade on a migrated database is a no-op
    assert current_revision(database.engine) == "0001"

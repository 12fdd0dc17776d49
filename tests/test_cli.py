"""The admin commands act on the same store as the server (real database, real click commands)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from aceserve.cli.main import cli
from aceserve.store import accounts
from aceserve.store.db import Database


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_accounts_and_keys_lifecycle(tmp_path: Path, database_url: str) -> None:
    store = ["--data-dir", str(tmp_path), "--database-url", database_url]
    assert "available $2.0000" in run(
        "accounts", "create", "team-a", "--credits-usd", "2", "--max-concurrent", "3", *store
    )
    assert "available $2.5000" in run("accounts", "credit", "team-a", "0.5", *store)
    shown = run("accounts", "show", "team-a", *store)
    assert "max concurrent 3" in shown and "whsec_" in shown
    key = run("keys", "create", "--account", "team-a", *store).strip().splitlines()[-1]
    db = Database(database_url)
    with db.read() as session:
        owner = accounts.authenticate(session, key)
        assert owner is not None and owner.name == "team-a"
    assert "Revoked 1 key(s)." in run("keys", "revoke", key[:10], *store)
    with db.read() as session:
        assert accounts.authenticate(session, key) is None
    db.dispose()


def test_keys_create_makes_the_account_when_missing(tmp_path: Path, database_url: str) -> None:
    result = CliRunner().invoke(cli, ["keys", "create", "--account", "fresh", "--database-url", database_url])
    assert result.exit_code == 0 and result.output.strip().splitlines()[-1].startswith("ak_")


def test_domain_errors_are_one_clear_line(tmp_path: Path, database_url: str) -> None:
    result = CliRunner().invoke(cli, ["accounts", "show", "nobody", "--database-url", database_url])
    assert result.exit_code == 1 and "No account named 'nobody'" in result.output
    assert "Traceback" not in result.output


def test_make_tiny_writes_a_loadable_checkpoint(tmp_path: Path) -> None:
    run("model", "make-tiny", str(tmp_path / "tiny"))
    assert (tmp_path / "tiny" / "model_index.json").is_file()

"""The admin commands act on the same store as the server (real database, real click commands)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from aceserve.cli.main import cli
from aceserve.store import accounts
from aceserve.store.db import Database, describe_url


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
    assert "max concurrent 3" in shown and "whsec_" not in shown and "--show-secret" in shown
    assert "whsec_" in run("accounts", "show", "team-a", "--show-secret", *store)
    key = run("keys", "create", "--account", "team-a", *store).strip().splitlines()[-1]
    db = Database(database_url)
    with db.read() as session:
        owner = accounts.authenticate(session, key)
        assert owner is not None and owner.name == "team-a"
    assert "Revoked 1 key(s)." in run("keys", "revoke", key[:10], *store)
    with db.read() as session:
        assert accounts.authenticate(session, key) is None
    db.dispose()


def test_keys_create_refuses_an_unknown_account_and_says_where_it_looked(tmp_path: Path, database_url: str) -> None:
    store = ["--data-dir", str(tmp_path), "--database-url", database_url]
    run("accounts", "create", "team-a", *store)
    result = CliRunner().invoke(cli, ["keys", "create", "--account", "team-aa", *store])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "No account named 'team-aa' in " in result.output and "--create-account" in result.output
    assert describe_url(database_url) in result.output
    db = Database(database_url)
    with db.read() as session:
        assert [account.name for account, _ in accounts.list_accounts(session)] == ["team-a"]  # nothing made
    db.dispose()
    refused = CliRunner().invoke(cli, ["keys", "create", "--account", "x", "--credits-usd", "2", *store])
    assert refused.exit_code == 2 and "--create-account" in refused.output


def test_keys_create_makes_the_account_only_when_asked(tmp_path: Path, database_url: str) -> None:
    store = ["--database-url", database_url]
    result = CliRunner().invoke(cli, ["keys", "create", "--account", "fresh", "--create-account", *store])
    assert result.exit_code == 0 and result.stdout.strip().startswith("ak_")
    assert "Created account 'fresh' with unlimited credit." in result.stderr
    result = CliRunner().invoke(
        cli, ["keys", "create", "--account", "paid", "--create-account", "--credits-usd", "3", *store]
    )
    assert result.exit_code == 0 and "Created account 'paid' with $3.0000 of credit." in result.stderr
    assert "available $3.0000" in run("accounts", "show", "paid", *store)


def test_keys_list_and_accounts_list_show_no_secrets_and_record_last_use(tmp_path: Path, database_url: str) -> None:
    from tests.api.server import make_settings, serving

    store = ["--database-url", database_url]
    run("accounts", "create", "team-a", "--credits-usd", "1.5", *store)
    used = run("keys", "create", "--account", "team-a", *store).strip()
    unused = run("keys", "create", "--account", "team-a", *store).strip()
    run("keys", "revoke", unused, *store)
    with serving(make_settings(tmp_path / "d", database_url)) as server, server.as_key(used) as client:
        assert client.get("/account/info").status_code == 200
    listed = run("keys", "list", "--account", "team-a", *store).splitlines()
    assert listed[0].split() == ["PREFIX", "ACCOUNT", "CREATED", "LAST", "USED", "REVOKED"]
    (used_row,) = [line for line in listed if line.startswith(used[:12])]
    (revoked_row,) = [line for line in listed if line.startswith(unused[:12])]
    assert used not in "\n".join(listed) and unused not in "\n".join(listed)  # prefixes only
    assert used_row.count(" UTC") == 2 and used_row.rstrip().endswith("-")  # created, last used; not revoked
    assert revoked_row.count(" UTC") == 2 and " - " in revoked_row  # created, revoked; never used
    table = run("accounts", "list", *store)
    assert "whsec_" not in table
    (row,) = [line for line in table.splitlines() if line.startswith("team-a")]
    assert row.split()[1:5] == ["$1.5000", "$0.0000", "10", "1"]  # available, frozen, limit, live keys
    unknown = CliRunner().invoke(cli, ["keys", "list", "--account", "nobody", *store])
    assert unknown.exit_code == 1 and "No account named 'nobody'" in unknown.output


def test_data_dir_from_the_environment_is_the_store_and_is_named(tmp_path: Path) -> None:
    env = {"ACESERVE_DATA_DIR": str(tmp_path / "elsewhere")}
    result = CliRunner(env=env).invoke(cli, ["accounts", "show", "team-a"])
    assert result.exit_code == 1
    assert f"database: sqlite:///{(tmp_path / 'elsewhere' / 'aceserve.sqlite3').resolve()}" in result.output
    assert (tmp_path / "elsewhere" / "aceserve.sqlite3").is_file()


def test_domain_errors_are_one_clear_line(tmp_path: Path, database_url: str) -> None:
    result = CliRunner().invoke(cli, ["accounts", "show", "nobody", "--database-url", database_url])
    assert result.exit_code == 1 and "No account named 'nobody'" in result.output
    assert "Traceback" not in result.output


def test_make_tiny_writes_a_loadable_checkpoint(tmp_path: Path) -> None:
    run("model", "make-tiny", str(tmp_path / "tiny"))
    assert (tmp_path / "tiny" / "model_index.json").is_file()


def test_an_unreachable_database_is_one_clear_line(tmp_path: Path) -> None:
    for command in (["accounts", "list"], ["keys", "list"], ["db", "upgrade"]):
        result = CliRunner().invoke(cli, [*command, "--database-url", "postgresql://nobody@127.0.0.1:1/none"])
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert "Cannot open the database postgresql://nobody@127.0.0.1:1/none" in result.output

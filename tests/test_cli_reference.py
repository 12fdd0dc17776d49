from pathlib import Path

from aceserve.cli.main import cli
from aceserve.cli.reference import render_reference

REFERENCE = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def test_cli_reference_is_up_to_date() -> None:
    assert REFERENCE.read_text() == render_reference(cli), "docs/cli.md is stale: run `make docs`"

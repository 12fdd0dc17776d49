"""``aceserve``: serve, api, worker, generate, bulk, mcp, keys, accounts, model, db."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from aceserve import __version__
from aceserve.cli.common import build_settings, main_guard, open_db, store_options
from aceserve.settings import Settings

log = logging.getLogger("aceserve")


def setup_logging(settings: Settings) -> None:
    from aceserve.telemetry.logformat import configure

    configure(settings.log_level, settings.log_format)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # "Context impl SQLiteImpl" on every start


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="aceserve")
def cli() -> None:
    """aceserve: PiAPI's Qubico/ace-step music API on your own hardware."""


# --- running ---------------------------------------------------------------------------------


def server_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option("--port", type=int, default=None, help="Port (default 8000).")(func)
    func = click.option("--host", default=None, help="Interface to listen on (default 127.0.0.1).")(func)
    return log_options(func)


def log_options(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--log-format",
        type=click.Choice(["text", "json"]),
        default=None,
        help="text (default) for people; json: one object per line for log shippers, task events with "
        "their fields as keys.",
    )(func)


def engine_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option(
        "--lm-device", default=None, help="Device of the 5 Hz LM planner (default: the model's --device)."
    )(func)
    func = click.option(
        "--lm",
        default=None,
        help="The 5 Hz LM planner ('thinking'): a local directory or hub id of an ACE-Step 5 Hz LM, or 'none'. "
        "Default: the model directory's lm/ (the tiny checkpoint has one), else ACE-Step/acestep-5Hz-lm-0.6B for "
        "a hub model.",
    )(func)
    func = click.option("--device", default=None, help="cpu, cuda, cuda:N or auto (default auto).")(func)
    func = click.option(
        "--model",
        default=None,
        help="Hub id or local directory of a diffusers ACE-Step 1.5 checkpoint, or 'tiny' "
        "(random weights: noise, for trying the API). Default: the official turbo checkpoint.",
    )(func)
    return func


@cli.command()
@store_options
@server_options
@engine_options
@main_guard
def serve(config_file: Path | None, **flags: Any) -> None:
    """Run everything on one machine: API, worker, webhook sender and file janitor."""
    from aceserve.cli.running import run_serve

    settings = build_settings(config_file, **flags)
    setup_logging(settings)
    run_serve(settings)


@cli.command()
@store_options
@server_options
@click.option(
    "--workers",
    "api_processes",
    type=click.IntRange(1, 64),
    default=None,
    help="Processes serving the API on the one port (uvicorn's workers; default 1): about one per CPU core. "
    "Each runs its own webhook sender and file janitor; the rate limit counts per process.",
)
@main_guard
def api(config_file: Path | None, **flags: Any) -> None:
    """Run the API alone (stateless; run several behind a load balancer), with webhooks and janitor."""
    from aceserve.cli.running import run_api

    settings = build_settings(config_file, **flags)
    setup_logging(settings)
    run_api(settings)


@cli.command()
@store_options
@engine_options
@click.option("--public-url", default=None, help="Base URL clients use for the API (for output URLs).")
@click.option(
    "--metrics-port",
    type=int,
    default=None,
    help="Serve this worker's metrics (Prometheus text format) on this port; bound before the model loads.",
)
@click.option("--metrics-host", default=None, help="Interface for --metrics-port (default 127.0.0.1).")
@log_options
@main_guard
def worker(config_file: Path | None, **flags: Any) -> None:
    """Run one worker on one device (one process per GPU), against the API's database."""
    from aceserve.cli.running import run_worker

    settings = build_settings(config_file, **flags)
    setup_logging(settings)
    run_worker(settings)


# --- model and database ------------------------------------------------------------------------


@cli.group()
def model() -> None:
    """Model checkpoints."""


@model.command("make-tiny")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def model_make_tiny(directory: Path) -> None:
    """Write a tiny random ACE-Step 1.5 checkpoint, with a tiny 5 Hz LM planner in DIRECTORY/lm, to DIRECTORY
    (makes noise; for tests and trying the API)."""
    from aceserve.engine.tiny import make_tiny_checkpoint

    make_tiny_checkpoint(directory)
    click.echo(
        f"Wrote the tiny random checkpoint (and its planner LM in lm/) to {directory}. It makes noise, not music."
    )


@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@store_options
@main_guard
def db_upgrade(config_file: Path | None, **flags: Any) -> None:
    """Apply migrations (every command also does this on start)."""
    settings = build_settings(config_file, **flags)
    open_db(settings)
    click.echo(f"Database at head: {settings.database_url.split('@')[-1]}")


def _register() -> None:
    from aceserve.cli.admin import accounts_group, keys
    from aceserve.cli.bulk import bulk
    from aceserve.cli.generate import generate
    from aceserve.cli.mcp_bridge import mcp_command

    cli.add_command(keys)
    cli.add_command(accounts_group)
    cli.add_command(generate)
    cli.add_command(bulk)
    cli.add_command(mcp_command)


_register()

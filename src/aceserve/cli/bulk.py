"""``aceserve bulk FILE -o DIR``: a task per line of a JSONL or CSV file, downloaded into DIR, with a
manifest; rerun the same command to resume (``aceserve.bulk``)."""

from __future__ import annotations

import shutil
import sys
import threading
from pathlib import Path

import click

from aceserve.bulk.manifest import MANIFEST_NAME, Manifest
from aceserve.bulk.parse import read_bulk_file
from aceserve.bulk.run import DEFAULT_NAME, NAME_FIELDS, BulkOptions, BulkRun, check_name_template
from aceserve.cli.generate import DEFAULT_URL
from aceserve.client import AceClient, ApiError, ServerUnreachable
from aceserve.domain.states import TaskType

MAX_DEFAULT_CONCURRENCY = 8


class Display:
    """A line per change of a task, and on a terminal one overall bar kept at the bottom."""

    def __init__(self, total: int, *, tty: bool) -> None:
        self.total = total
        self.tty = tty
        self.ended: set[int] = set()
        self.bad: set[int] = set()
        self._lock = threading.Lock()

    def __call__(self, line: int, text: str) -> None:
        with self._lock:
            if text.startswith(("completed", "already downloaded")):
                self.ended.add(line)
            elif text.startswith(("error", "failed", "gave up")):
                self.ended.add(line)
                self.bad.add(line)
            if self.tty:
                click.echo("\r\x1b[K", nl=False, err=True)
            click.echo(f"line {line}: {text}", err=True)
            if self.tty:
                click.echo(self.bar(), nl=False, err=True)

    def bar(self) -> str:
        width = 30
        filled = width * len(self.ended) // max(1, self.total)
        return (
            f"[{'#' * filled}{'.' * (width - filled)}] {len(self.ended)}/{self.total} ended, {len(self.bad)} not done"
        )

    def close(self) -> None:
        if self.tty:
            click.echo("", err=True)


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output-dir",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help=f"Directory for the audio files and {MANIFEST_NAME} (created if missing).",
)
@click.option("--url", envvar="ACESERVE_URL", default=DEFAULT_URL, show_default=True, help="Server URL.")
@click.option("--key", envvar="ACESERVE_API_KEY", default=None, help="API key (or ACESERVE_API_KEY).")
@click.option(
    "--task-type",
    type=click.Choice([task_type.value for task_type in TaskType]),
    default=TaskType.TXT2AUDIO.value,
    show_default=True,
    help="Task type of lines that do not name one (a `task_type` key or column).",
)
@click.option(
    "-j",
    "--concurrency",
    type=click.IntRange(1, 64),
    default=None,
    help=f"Tasks in flight at once (default: the account's concurrency limit, at most {MAX_DEFAULT_CONCURRENCY}).",
)
@click.option(
    "--name",
    "name_template",
    default=DEFAULT_NAME,
    show_default=True,
    help=f"File name template; fields: {', '.join(NAME_FIELDS)}.",
)
@click.option("--timeout", type=float, default=3600.0, show_default=True, help="Seconds to wait for one task to end.")
def bulk(
    file: Path,
    out_dir: Path,
    url: str,
    key: str | None,
    task_type: str,
    concurrency: int | None,
    name_template: str,
    timeout: float,
) -> None:
    """Make a task per line of FILE and download each output into DIR.

    FILE is JSONL (one create-task body, or just its `input`, per line) or CSV (a header of input field
    names, a task per row). Each line is sent with an idempotency key made from the file's name, the line
    number and the line's text, and DIR/manifest.jsonl records what became of it (line, task_id, status,
    output, error). Interrupted? Run the same command again: nothing is created twice and nothing already
    downloaded is fetched again. Lines the server refuses are reported with its message; the others go on.
    Exits 1 when any line did not end with a download.
    """
    if not key:
        raise click.UsageError("No API key: pass --key or set ACESERVE_API_KEY (`aceserve keys create` makes one).")
    try:
        check_name_template(name_template)
        lines = read_bulk_file(file, default_task_type=TaskType(task_type))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    if not lines:
        raise click.UsageError(f"{file} has no task lines.")
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = Manifest.load(out_dir / MANIFEST_NAME)
    display = Display(len(lines), tty=sys.stderr.isatty() and shutil.get_terminal_size().columns > 40)
    with AceClient(url, key) as client:
        try:
            if concurrency is None:
                limit = client.account().get("max_concurrent_task_count")
                concurrency = min(limit if isinstance(limit, int) and limit > 0 else 1, MAX_DEFAULT_CONCURRENCY)
            options = BulkOptions(out_dir, concurrency, name_template, timeout_seconds=timeout)
            outcome = BulkRun(client, manifest, options, display).run(lines)
        except KeyboardInterrupt:
            display.close()
            click.echo(
                f"Interrupted. Tasks already made go on on the server; run the same command again to resume "
                f"({out_dir / MANIFEST_NAME} says where each line stands).",
                err=True,
            )
            sys.exit(130)
        except ApiError as exc:
            display.close()
            hint = " (check --key or ACESERVE_API_KEY)" if exc.status == 401 else ""
            raise click.ClickException(f"The server at {client.base_url} said: {exc.message}{hint}") from exc
        except ServerUnreachable as exc:
            display.close()
            raise click.ClickException(f"{exc}. Run the same command again to resume.") from exc
    display.close()
    click.echo(
        f"{outcome.done} of {len(lines)} lines downloaded to {out_dir}"
        + (f" ({outcome.skipped} from an earlier run)" if outcome.skipped else "")
        + (f"; {outcome.failed} not: see {out_dir / MANIFEST_NAME}" if outcome.failed else "")
    )
    if outcome.failed:
        sys.exit(1)

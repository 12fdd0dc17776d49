"""``aceserve generate``: make a song from the command line against a running server.

Creates the task (uploading local audio first), follows it through its event stream (polling a server
without one) with a progress line (queue position while pending, a bar while processing), downloads
the output, and exits non-zero with the server's message when anything fails. ``--json`` prints the
final task object instead of the progress and summary.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from aceserve.client import AceClient, ApiError, ServerUnreachable, TaskView, watch

UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
DEFAULT_URL = "http://127.0.0.1:8000"


@click.group()
def generate() -> None:
    """Make music with a running server (--url/ACESERVE_URL, --key/ACESERVE_API_KEY) and download it."""


def common_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--url", envvar="ACESERVE_URL", default=DEFAULT_URL, show_default=True, help="Server URL."),
        click.option("--key", envvar="ACESERVE_API_KEY", default=None, help="API key (or ACESERVE_API_KEY)."),
        click.option(
            "-o",
            "--output",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="Where to write the audio (default: <task id>.<format> here).",
        ),
        click.option(
            "--format",
            "output_format",
            type=click.Choice(["mp3", "wav", "flac"]),
            default=None,
            help="Output format (server default mp3).",
        ),
        click.option("--seed", type=int, default=None, help="Seed, for a repeatable result."),
        click.option("--steps", "infer_steps", type=int, default=None, help="Inference steps."),
        click.option(
            "--set",
            "extra",
            multiple=True,
            metavar="FIELD=VALUE",
            help="Any other input field (VALUE read as JSON when it parses, else as text); repeatable.",
        ),
        click.option("--json", "as_json", is_flag=True, help="Print the final task object (JSON) instead."),
        click.option(
            "--timeout", type=float, default=3600.0, show_default=True, help="Seconds to wait for the task to end."
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def lyrics_options(prefix: str = "", field: str = "lyrics") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        func = click.option(
            f"--{prefix}lyrics-file",
            f"{prefix.replace('-', '_')}lyrics_file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            default=None,
            help=f"Read {field} from a file.",
        )(func)
        return click.option(
            f"--{prefix}lyrics",
            f"{prefix.replace('-', '_')}lyrics",
            default=None,
            help=f"{field} text ([verse], [chorus] tags; default [inst]: instrumental).",
        )(func)

    return decorate


AUDIO_HELP = "Input audio: a local FILE (uploaded), a URL, or the TASK_ID of a completed task."


@generate.command("txt2audio")
@click.option("--style", required=True, help="Style prompt: genre, instruments, mood, tempo.")
@lyrics_options()
@click.option("--duration", type=float, default=None, help="Seconds (1-600; default 30).")
@click.option("--negative-style", default=None, help="What to avoid.")
@common_options
def txt2audio(
    style: str,
    lyrics: str | None,
    lyrics_file: Path | None,
    duration: float | None,
    negative_style: str | None,
    **common: Any,
) -> None:
    """Text to audio: a song from a style prompt and lyrics."""
    fields = {
        "style_prompt": style,
        "lyrics": read_text(lyrics, lyrics_file, "--lyrics"),
        "duration": duration,
        "negative_style_prompt": negative_style,
    }
    run("txt2audio", fields, audio=None, **common)


@generate.command("audio2audio")
@click.option("--audio", required=True, help=AUDIO_HELP)
@click.option("--style", required=True, help="The style wanted.")
@lyrics_options()
@click.option("--strength", "audio_cover_strength", type=float, default=None, help="How much of the input to keep.")
@common_options
def audio2audio(
    audio: str,
    style: str,
    lyrics: str | None,
    lyrics_file: Path | None,
    audio_cover_strength: float | None,
    **common: Any,
) -> None:
    """Audio to audio: restyle an input (a cover)."""
    fields = {
        "style_prompt": style,
        "lyrics": read_text(lyrics, lyrics_file, "--lyrics"),
        "audio_cover_strength": audio_cover_strength,
    }
    run("audio2audio", fields, audio=("style_audio", audio), **common)


@generate.command("edit")
@click.option("--audio", required=True, help=AUDIO_HELP)
@click.option("--style", required=True, help="Describes the input audio.")
@lyrics_options()
@click.option("--edit-style", required=True, help="The style wanted.")
@lyrics_options("edit-", "the lyrics wanted")
@common_options
def edit(
    audio: str,
    style: str,
    lyrics: str | None,
    lyrics_file: Path | None,
    edit_style: str,
    edit_lyrics: str | None,
    edit_lyrics_file: Path | None,
    **common: Any,
) -> None:
    """Edit: change an input's style or lyrics, keeping the rest."""
    fields = {
        "style_prompt": style,
        "lyrics": read_text(lyrics, lyrics_file, "--lyrics"),
        "edit_style_prompt": edit_style,
        "edit_lyrics": read_text(edit_lyrics, edit_lyrics_file, "--edit-lyrics"),
    }
    run("edit", fields, audio=("audio", audio), **common)


@generate.command("extend")
@click.option("--audio", required=True, help=AUDIO_HELP)
@click.option("--style", required=True, help="Style of the extension.")
@lyrics_options()
@click.option("--left", "left_extend_duration", type=float, default=None, help="Seconds to add before.")
@click.option("--right", "right_extend_duration", type=float, default=None, help="Seconds to add after.")
@common_options
def extend(
    audio: str,
    style: str,
    lyrics: str | None,
    lyrics_file: Path | None,
    left_extend_duration: float | None,
    right_extend_duration: float | None,
    **common: Any,
) -> None:
    """Extend: add seconds before and after an input, keeping it exactly."""
    fields = {
        "style_prompt": style,
        "lyrics": read_text(lyrics, lyrics_file, "--lyrics"),
        "left_extend_duration": left_extend_duration,
        "right_extend_duration": right_extend_duration,
    }
    run("extend", fields, audio=("audio", audio), **common)


def read_text(text: str | None, path: Path | None, flag: str) -> str | None:
    if text is not None and path is not None:
        raise click.UsageError(f"Give {flag} or {flag}-file, not both.")
    if path is None:
        return text
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.UsageError(f"{flag}-file {path}: cannot read it as UTF-8 text ({exc}).") from exc


def parse_extra(extra: tuple[str, ...]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for item in extra:
        name, sep, raw = item.partition("=")
        if not sep or not name.strip():
            raise click.UsageError(f"--set {item!r}: write FIELD=VALUE, e.g. --set guidance_scale=7.5")
        try:
            fields[name.strip()] = json.loads(raw)
        except ValueError:
            fields[name.strip()] = raw
    return fields


def run(
    task_type: str,
    fields: dict[str, Any],
    *,
    audio: tuple[str, str] | None,
    url: str,
    key: str | None,
    output: Path | None,
    output_format: str | None,
    seed: int | None,
    infer_steps: int | None,
    extra: tuple[str, ...],
    as_json: bool,
    timeout: float,
) -> None:
    if not key:
        raise click.UsageError("No API key: pass --key or set ACESERVE_API_KEY (`aceserve keys create` makes one).")
    fields = {**fields, "output_format": output_format, "seed": seed, "infer_steps": infer_steps}
    fields = {name: value for name, value in fields.items() if value is not None}
    fields.update(parse_extra(extra))
    with AceClient(url, key) as client:
        try:
            if audio is not None:
                fields[audio[0]] = resolve_audio(client, audio[1])
            task = client.create(task_type, fields)
            say = (lambda _text: None) if as_json else progress_printer()
            say(f"task {task.id} created")
            final = task
            for final in watch(client, task.id, timeout=timeout):
                say(describe(final))
            if final.status != "completed":
                if as_json:
                    click.echo(json.dumps(final.raw, indent=2))
                raise click.ClickException(
                    f"Task {final.id} failed (error {final.error_code}): {final.error_message or 'no reason given'}"
                )
            if not final.audio_url:
                raise click.ClickException(f"Task {final.id} completed without an audio URL.")
            written = None
            if output is not None or not as_json:
                written = output or Path(f"{final.id}.{Path(final.audio_url).suffix.lstrip('.') or 'mp3'}")
                size = client.download(final.audio_url, written)
        except ApiError as exc:
            hint = " (check --key or ACESERVE_API_KEY)" if exc.status == 401 else ""
            raise click.ClickException(f"The server at {client.base_url} said: {exc.message}{hint}") from exc
        except ServerUnreachable as exc:
            raise click.ClickException(f"{exc}. Is `aceserve serve` running there? (--url or ACESERVE_URL)") from exc
        except TimeoutError as exc:
            raise click.ClickException(f"{exc}; it goes on on the server (raise --timeout to wait longer).") from exc
    if as_json:
        click.echo(json.dumps(final.raw, indent=2))
    elif written is not None:
        click.echo(f"{written} ({size / 1024:.0f} KiB, task {final.id})")


def resolve_audio(client: AceClient, value: str) -> str:
    """A file is uploaded, a URL is passed on, a task id becomes that task's output."""
    if value.startswith(("http://", "https://", "data:")):
        return value
    path = Path(value).expanduser()
    if path.is_file():
        return client.upload(path)
    if UUID.match(value):
        source = client.get(value)
        if source.status != "completed" or not source.audio_url:
            raise click.ClickException(f"--audio {value}: that task is {source.status}, not completed with audio.")
        return source.audio_url
    raise click.UsageError(f"--audio {value!r}: no such file, and not a URL or a task id.")


def describe(task: TaskView) -> str:
    if task.status == "pending" and task.queue_position is not None:
        return f"pending, queue position {task.queue_position}"
    if task.status == "processing":
        filled = round(task.progress * 30)
        return f"processing [{'#' * filled}{'.' * (30 - filled)}] {task.progress * 100:3.0f}%"
    return task.status


def progress_printer() -> Callable[[str], None]:
    """On a terminal one line rewritten in place; elsewhere one line per change."""
    live = sys.stderr.isatty()
    width = 0

    def say(text: str) -> None:
        nonlocal width
        if live:
            click.echo("\r" + text.ljust(width), nl=False, err=True)
            width = max(width, len(text))
            if text in ("completed", "failed"):
                click.echo("", err=True)
        else:
            click.echo(text, err=True)

    return say

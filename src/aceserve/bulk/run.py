"""Running a bulk file: submit each line with its idempotency key, follow it, download its output.

At most ``concurrency`` lines are in flight at once (by default the account's own concurrency limit);
a 429 waits and tries again. A line the server refuses is recorded with its message and the rest go on;
a server that cannot be reached stops the run (a rerun resumes). Ctrl-C stops it too: tasks already
created keep running on the server, and the rerun finds them by their idempotency keys.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

from aceserve.bulk.manifest import COMPLETED, FAILED, REJECTED, Manifest, is_done
from aceserve.bulk.parse import BadLine, BulkLine, Parsed
from aceserve.client import AceClient, ApiError, ServerUnreachable, TaskView

DEFAULT_NAME = "{line:03d}-{slug}-{seed}.{ext}"
NAME_FIELDS = ("line", "slug", "seed", "task_id", "task_type", "ext")
MAX_SLUG = 40
RATE_LIMIT_WAIT_SECONDS = 2.0


@dataclass(frozen=True)
class BulkOptions:
    out_dir: Path
    concurrency: int
    name_template: str = DEFAULT_NAME
    poll_seconds: float = 0.5
    timeout_seconds: float = 3600.0


@dataclass(frozen=True)
class Outcome:
    done: int
    skipped: int
    failed: int
    """Lines without a download: refused by the server, unreadable, or failed tasks."""


Event = Callable[[int, str], None]
"""Told of each change: (line number, what happened)."""


class Stopped(Exception):
    """The run was asked to stop (Ctrl-C) or lost the server."""


def check_name_template(template: str) -> None:
    """Raises ``ValueError`` naming the problem when the template cannot name a file."""
    try:
        name = template.format(line=1, slug="song", seed=7, task_id="id", task_type="txt2audio", ext="mp3")
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"the name template {template!r} does not format ({exc!r}); fields: {NAME_FIELDS}") from exc
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise ValueError(f"the name template {template!r} must make a plain file name; it made {name!r}")


def output_name(template: str, line: BulkLine, task: TaskView) -> str:
    seed = (task.raw.get("meta") or {}).get("seed", "noseed")
    ext = PurePosixPath(urlparse(task.audio_url or "").path).suffix.lstrip(".") or "audio"
    return template.format(
        line=line.line, slug=slug(line.input), seed=seed, task_id=task.id, task_type=task.task_type, ext=ext
    )


def slug(fields: dict[str, Any]) -> str:
    for name in ("style_prompt", "edit_style_prompt", "description"):
        value = fields.get(name)
        if isinstance(value, str) and value.strip():
            text = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")
            return text[:MAX_SLUG].rstrip("-") or "untitled"
    return "untitled"


class BulkRun:
    def __init__(self, client: AceClient, manifest: Manifest, options: BulkOptions, event: Event) -> None:
        self.client = client
        self.manifest = manifest
        self.options = options
        self.event = event
        self.stop = threading.Event()
        self.lost: ServerUnreachable | None = None

    def run(self, lines: list[Parsed]) -> Outcome:
        self.manifest.keep_only({line.line for line in lines})
        todo: list[BulkLine] = []
        skipped = 0
        for line in lines:
            if isinstance(line, BadLine):
                self.manifest.record(line.line, status=REJECTED, error=line.error, task_id=None, output=None)
                self.event(line.line, f"error: {line.error}")
            elif is_done(entry := self.manifest.get(line.line), line.idempotency_key, self.options.out_dir):
                skipped += 1
                self.event(line.line, f"already downloaded: {entry.output if entry else ''}")
            else:
                todo.append(line)
        pool = ThreadPoolExecutor(max_workers=max(1, self.options.concurrency), thread_name_prefix="bulk")
        try:
            futures = [pool.submit(self._one, line) for line in todo]
            for future in futures:
                while not future.done():  # short waits: Ctrl-C reaches the main thread between them
                    time.sleep(0.1)
                future.result()
        except BaseException:
            self.stop.set()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        if self.lost is not None:
            raise self.lost
        entries = self.manifest.entries()
        done = sum(1 for entry in entries if entry.status == COMPLETED)
        return Outcome(done=done, skipped=skipped, failed=len(entries) - done)

    def _one(self, line: BulkLine) -> None:
        if self.stop.is_set():
            return
        try:
            self._run_line(line)
        except Stopped:
            return
        except ServerUnreachable as exc:
            self.lost = exc
            self.stop.set()

    def _run_line(self, line: BulkLine) -> None:
        key = line.idempotency_key
        try:
            task = self._create(line)
        except ApiError as exc:
            error = f"{exc.status}: {exc.message}"
            self.manifest.record(
                line.line, status=REJECTED, error=error, task_id=None, output=None, idempotency_key=key
            )
            self.event(line.line, f"error: {error}")
            return
        self.manifest.record(
            line.line, task_id=task.id, status=task.status, error=None, output=None, idempotency_key=key
        )
        self.event(line.line, f"{task.status} (task {task.id})")
        followed = self._follow(line, task)
        if followed is None:
            error = f"still {task.status} after {self.options.timeout_seconds:g} s; a rerun picks it up again"
            self.manifest.record(line.line, error=error)
            self.event(line.line, f"gave up waiting: {error}")
            return
        task = followed
        if task.status != COMPLETED:
            error = f"{task.error_code}: {task.error_message}"
            self.manifest.record(line.line, status=FAILED, error=error)
            self.event(line.line, f"failed: {error}")
            return
        name = output_name(self.options.name_template, line, task)
        target = self.options.out_dir / name
        if not target.is_file():  # a file of that name is a finished download (written whole, then renamed)
            assert task.audio_url is not None
            partial = target.with_name(f".{name}.part")
            self.client.download(task.audio_url, partial)
            partial.replace(target)
        self.manifest.record(line.line, status=COMPLETED, output=name, error=None)
        self.event(line.line, f"completed: {name}")

    def _create(self, line: BulkLine) -> TaskView:
        body = line.body
        config = body.get("config") if isinstance(body.get("config"), dict) else None
        while True:
            self._check_stop()
            try:
                return self.client.create(
                    str(body.get("task_type")), line.input, config=config, idempotency_key=line.idempotency_key
                )
            except ApiError as exc:
                if exc.status != 429:
                    raise
                self.event(line.line, "rate limited: waiting")
                self._sleep(RATE_LIMIT_WAIT_SECONDS)

    def _follow(self, line: BulkLine, task: TaskView) -> TaskView | None:
        """The task once ended; None past the timeout."""
        deadline = time.monotonic() + self.options.timeout_seconds
        status = task.status
        while not task.ended:
            self._sleep(self.options.poll_seconds)
            if time.monotonic() > deadline:
                return None
            task = self.client.get(task.id)
            if task.status != status and not task.ended:  # "completed" is recorded once the file is here
                status = task.status
                self.manifest.record(line.line, status=status)
                self.event(line.line, status)
        return task

    def _sleep(self, seconds: float) -> None:
        if self.stop.wait(seconds):
            raise Stopped

    def _check_stop(self) -> None:
        if self.stop.is_set():
            raise Stopped

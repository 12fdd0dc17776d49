"""The task object of contract §4, rendered from a row. Used by the API and by webhook events.

The store speaks relative paths: a file of this server is ``/files/<id>.<ext>`` in every row and in
what ``render_task`` returns. Whoever puts a task on the wire (the API, the webhook sender) makes
those paths absolute with ``absolute_urls`` and its own public URL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aceserve.domain.inputs_models import AUDIO_FIELDS
from aceserve.domain.states import MODEL_NAME, PHASE_KEY, TaskStatus
from aceserve.store.files import FILE_ROUTE
from aceserve.store.models import Task

ZERO_TIME = "0001-01-01T00:00:00Z"


def format_time(value: datetime | None) -> str:
    """RFC 3339 UTC with microseconds; unset times are PiAPI's zero time, never null."""
    if value is None:
        return ZERO_TIME
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def absolute_url(public_url: str, path_or_url: str) -> str:
    """A path of this server (``/files/…``) under ``public_url``; anything else as it is."""
    if path_or_url.startswith(FILE_ROUTE):
        return f"{public_url}{path_or_url}"
    return path_or_url


def absolute_urls(task: dict[str, Any], public_url: str) -> dict[str, Any]:
    """A rendered task with its file paths (input audio, output URLs) made absolute."""
    data = dict(task)
    echo = data.get("input")
    if isinstance(echo, dict):
        data["input"] = {
            key: absolute_url(public_url, value) if key in AUDIO_FIELDS and isinstance(value, str) else value
            for key, value in echo.items()
        }
    output = data.get("output")
    if isinstance(output, dict):
        data["output"] = {
            key: absolute_url(public_url, value) if key.endswith("_url") and isinstance(value, str) else value
            for key, value in output.items()
        }
    return data


def render_task(task: Task) -> dict[str, Any]:
    """The task object, with this server's files as relative paths."""
    status = TaskStatus(task.status)
    output = None
    if status is TaskStatus.COMPLETED and task.output:
        output = dict(task.output)
    meta: dict[str, Any] = {
        "created_at": format_time(task.created_at),
        "started_at": format_time(task.started_at),
        "ended_at": format_time(task.ended_at),
        "usage": render_usage(task),
        "is_using_private_pool": False,
    }
    meta.update(task.meta_extra or {})
    if status is not TaskStatus.PROCESSING:
        meta.pop(PHASE_KEY, None)  # where a worker is: only while one holds the task
    if status.is_active:
        meta["progress"] = round(task.progress, 4)
    elif status is TaskStatus.COMPLETED:
        meta["progress"] = 1.0
    if task.seed is not None:
        meta["seed"] = task.seed
    return {
        "task_id": task.id,
        "model": MODEL_NAME,
        "task_type": task.task_type,
        "status": status.value,
        "config": task.config,
        "input": dict(sorted(task.input.items())),
        "output": output,
        "meta": meta,
        "detail": None,
        "logs": list((task.logs or {}).get("lines", [])),
        "error": {
            "code": task.error_code,
            "raw_message": task.error_raw,
            "message": task.error_message,
            "detail": None,
        },
    }


def render_usage(task: Task) -> dict[str, Any]:
    return {"type": "llm", "frozen": task.frozen_units, "consume": task.consumed_units}

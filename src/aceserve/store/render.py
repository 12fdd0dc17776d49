"""The task object of contract §4, rendered from a row. Used by the API and by webhook events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aceserve.domain.states import MODEL_NAME, TaskStatus
from aceserve.store.models import Task

ZERO_TIME = "0001-01-01T00:00:00Z"


def format_time(value: datetime | None) -> str:
    """RFC 3339 UTC with microseconds; unset times are PiAPI's zero time, never null."""
    if value is None:
        return ZERO_TIME
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def absolute_url(public_url: str, path_or_url: str) -> str:
    if path_or_url.startswith(("http://", "https://")):
        return path_or_url
    return f"{public_url}{path_or_url}"


AUDIO_FIELDS = ("style_audio", "audio")


def render_input(task: Task, public_url: str) -> dict[str, Any]:
    """The normalized input echo; audio stored from inline base64 is shown as its absolute URL."""
    echo = dict(task.input)
    for key in AUDIO_FIELDS:
        value = echo.get(key)
        if isinstance(value, str) and value.startswith("/files/"):
            echo[key] = absolute_url(public_url, value)
    return dict(sorted(echo.items()))


def render_task(task: Task, public_url: str) -> dict[str, Any]:
    status = TaskStatus(task.status)
    output = None
    if status is TaskStatus.COMPLETED and task.output:
        output = {
            key: absolute_url(public_url, value) if key.endswith("_url") else value
            for key, value in task.output.items()
        }
    meta: dict[str, Any] = {
        "created_at": format_time(task.created_at),
        "started_at": format_time(task.started_at),
        "ended_at": format_time(task.ended_at),
        "usage": render_usage(task),
        "is_using_private_pool": False,
    }
    meta.update(task.meta_extra or {})
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
        "input": render_input(task, public_url),
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

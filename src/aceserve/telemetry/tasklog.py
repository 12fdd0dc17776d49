"""One log line per task transition (logger ``aceserve.tasks``), with the task id, account, type and
durations; with ``--log-format json`` the same fields arrive as JSON keys (``logformat``)."""

from __future__ import annotations

import logging

from aceserve.telemetry.events import TaskEvent

log = logging.getLogger("aceserve.tasks")
TASK_FIELDS = "task_fields"
"""The ``extra`` key under which a record carries the event's fields."""


def log_event(event: TaskEvent) -> None:
    fields = event.fields()
    text = " ".join(f"{key}={_text(value)}" for key, value in fields.items() if key != "transition")
    log.info("task %s %s", event.transition.value, text, extra={TASK_FIELDS: fields})


def _text(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    text = str(value)
    return repr(text) if (" " in text or not text) else text

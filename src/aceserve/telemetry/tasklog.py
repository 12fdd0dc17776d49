"""One log line per task transition (logger ``aceserve.tasks``), with the task id, account, type and
durations; with ``--log-format json`` the same fields arrive as JSON keys (``logformat``)."""

from __future__ import annotations

import logging

from aceserve.telemetry.events import TaskEvent

log = logging.getLogger("aceserve.tasks")
TASK_FIELDS = "task_fields"
"""The ``extra`` key under which a record carries the event's fields."""
SHORT_MESSAGE = "short_message"
"""The ``extra`` key of the message without the fields (JSON lines carry the fields as keys)."""


def log_event(event: TaskEvent) -> None:
    if not log.isEnabledFor(logging.INFO):
        return  # the line is not written: nothing to build (a create's hot path)
    fields = event.fields()
    text = " ".join(f"{key}={_text(value)}" for key, value in fields.items() if key != "transition")
    short = f"task {event.transition.value}"
    log.info("%s %s", short, text, extra={TASK_FIELDS: fields, SHORT_MESSAGE: short})


def _text(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    text = str(value)
    return repr(text) if (" " in text or not text) else text

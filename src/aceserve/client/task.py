"""A task as the client sees it: the fields a caller acts on, and the whole object as sent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TERMINAL = frozenset({"completed", "failed"})


@dataclass(frozen=True)
class TaskView:
    id: str
    task_type: str
    status: str
    progress: float
    queue_position: int | None
    audio_url: str | None
    error_code: int
    error_message: str
    raw: dict[str, Any]

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> TaskView:
        meta = data.get("meta") or {}
        output = data.get("output") or {}
        error = data.get("error") or {}
        position = meta.get("queue_position")
        return cls(
            id=str(data["task_id"]),
            task_type=str(data.get("task_type", "")),
            status=str(data.get("status", "")),
            progress=float(meta.get("progress") or 0.0),
            queue_position=int(position) if isinstance(position, int) else None,
            audio_url=output.get("audio_url") if isinstance(output, dict) else None,
            error_code=int(error.get("code") or 0),
            error_message=str(error.get("message") or ""),
            raw=data,
        )

    @property
    def ended(self) -> bool:
        return self.status in TERMINAL

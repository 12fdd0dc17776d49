"""The task object as the API sends it: one rendering for ``GET /api/v1/task/{id}`` and the task's
event stream, so an event carries exactly the JSON a GET returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aceserve.domain.errors import NotFound
from aceserve.domain.states import TaskStatus
from aceserve.store import tasks as task_store
from aceserve.store.db import Database
from aceserve.store.render import absolute_urls


@dataclass(frozen=True)
class TaskView:
    """A task as a client sees it now."""

    data: dict[str, Any]

    @property
    def status(self) -> TaskStatus:
        return TaskStatus(self.data["status"])

    @property
    def version(self) -> str:
        """Changes with status, progress or queue position: an event stream's event id."""
        meta = self.data["meta"]
        progress = round(float(meta.get("progress", 0.0)) * 10_000)
        return f"{self.status.value}.{progress}.{meta.get('queue_position', 0)}"


def read_task(db: Database, account_id: str, task_id: str, public_url: str) -> TaskView:
    """The account's task (404 for a task that is missing or another account's), with absolute file URLs."""
    row = task_store.read_task(db, account_id, task_id)
    if row is None:
        raise NotFound(f"Task {task_id} was not found.")
    return view_of(row, public_url)


def view_of(row: Any, public_url: str) -> TaskView:
    """A row of ``store.tasks.read_task`` or ``read_for_key`` as the client sees it."""
    return TaskView(absolute_urls(task_store.render_task_now(row), public_url))

"""Following a task until it ends. Polling for now: ``watch`` yields a snapshot whenever the status,
progress or queue position changes. A server-sent event stream can replace the polling inside
``watch`` without changing its callers."""

from __future__ import annotations

import time
from collections.abc import Iterator

from aceserve.client.api import AceClient
from aceserve.client.task import TaskView


def watch(
    client: AceClient, task_id: str, *, interval: float = 0.5, timeout: float | None = None
) -> Iterator[TaskView]:
    """Snapshots of the task as it changes, the last one ended (completed or failed). Raises
    ``TimeoutError`` after ``timeout`` seconds without an end."""
    deadline = None if timeout is None else time.monotonic() + timeout
    last: tuple[str, float, int | None] | None = None
    while True:
        task = client.get(task_id)
        seen = (task.status, task.progress, task.queue_position)
        if seen != last:
            last = seen
            yield task
        if task.ended:
            return
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"task {task_id} is still {task.status} after {timeout} s")
        time.sleep(interval)


def wait(client: AceClient, task_id: str, *, interval: float = 0.5, timeout: float | None = None) -> TaskView:
    """The task once it has ended."""
    final = None
    for snapshot in watch(client, task_id, interval=interval, timeout=timeout):
        final = snapshot
    assert final is not None
    return final

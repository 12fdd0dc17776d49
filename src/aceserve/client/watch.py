"""Following a task until it ends: by the server's event stream (``/api/v1/task/{id}/events``) where it has
one, else by polling GET. ``watch`` yields a snapshot whenever the status, progress or queue position
changes, either way."""

from __future__ import annotations

import time
from collections.abc import Iterator

from aceserve.client.api import AceClient, EventsUnavailable
from aceserve.client.task import TaskView

RECONNECTS = 5
"""Event streams that may close without news before ``watch`` falls back to polling."""


def watch(
    client: AceClient,
    task_id: str,
    *,
    interval: float = 0.5,
    timeout: float | None = None,
    events: bool = True,
) -> Iterator[TaskView]:
    """Snapshots of the task as it changes, the last one ended (completed or failed). ``events=False``
    polls every ``interval`` seconds. Raises ``TimeoutError`` after ``timeout`` seconds without an end."""
    deadline = None if timeout is None else time.monotonic() + timeout
    last: tuple[str, float, int | None] | None = None

    def news(task: TaskView) -> bool:
        nonlocal last
        seen = (task.status, task.progress, task.queue_position)
        changed, last = seen != last, seen
        return changed

    def check(task: TaskView | None) -> None:
        if deadline is not None and time.monotonic() > deadline:
            state = task.status if task is not None else "unfinished"
            raise TimeoutError(f"task {task_id} is still {state} after {timeout} s")

    latest: TaskView | None = None
    if events:
        event_id: str | None = None
        quiet = 0
        try:
            while quiet < RECONNECTS:
                quiet += 1
                for item in client.events(task_id, last_event_id=event_id):
                    check(latest)
                    if item is None:
                        continue
                    event_id, latest = item
                    quiet = 0
                    if news(latest):
                        yield latest
                    if latest.ended:
                        return
                if latest is not None and latest.ended:
                    return
        except EventsUnavailable:
            pass
    while True:
        latest = client.get(task_id)
        if news(latest):
            yield latest
        if latest.ended:
            return
        check(latest)
        time.sleep(interval)


def wait(
    client: AceClient, task_id: str, *, interval: float = 0.5, timeout: float | None = None, events: bool = True
) -> TaskView:
    """The task once it has ended."""
    final = None
    for snapshot in watch(client, task_id, interval=interval, timeout=timeout, events=events):
        final = snapshot
    assert final is not None
    return final

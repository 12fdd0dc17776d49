"""``GET /api/v1/task/{task_id}/events``: a task's changes as Server-Sent Events.

Same key and 404 rules as GET task. Each change of status, progress or queue position is a ``task``
event carrying the task object exactly as GET returns it (``data`` of the envelope); the terminal
state is an ``end`` event, then the stream closes. Event ids name the state, so a client reconnecting
with ``Last-Event-ID`` is sent only what it has not seen (204 when the task had already ended).
Changes are read from the database, woken by ``store.feed.TaskFeed`` (in-process commits, PostgreSQL
LISTEN/NOTIFY, or a short poll), so the writer may be any worker or API process.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from aceserve.api import schemas
from aceserve.api.deps import AccountDep, Services, ServicesDep, api_key_from
from aceserve.api.task_object import TaskView, read_task
from aceserve.domain.states import TaskStatus

RETRY_MILLISECONDS = 2000
"""How long a disconnected EventSource waits before reconnecting (the stream's ``retry:`` field)."""

router = schemas.authenticated(APIRouter(prefix="/api/v1", tags=["tasks"]))

LastEventId = Annotated[
    str | None,
    Header(
        alias="Last-Event-ID",
        max_length=100,
        description="The id of the last event received: a reconnecting client is sent only newer states.",
    ),
]

EVENT_STREAM_DOC: dict[str, Any] = {
    "description": "A `text/event-stream`. `task` events (id: the state, data: the task object as GET returns "
    "it) on every change of status, progress or queue position, the first at once; one `end` event with the "
    "final task object when it completes or fails; then the stream closes. A `: keep-alive` comment is sent "
    "while nothing changes. The stream also closes when the server stops: reconnect with `Last-Event-ID`.",
    "content": {
        "text/event-stream": {
            "schema": {"type": "string"},
            "example": 'retry: 2000\n\nid: pending.0.1\nevent: task\ndata: {"task_id": "…", "status": "pending", …}\n\n'
            'id: completed.10000.0\nevent: end\ndata: {"task_id": "…", "status": "completed", …}\n\n',
        }
    },
}


class EventStreamResponse(StreamingResponse):
    """A streamed response that runs ``on_close`` however it ends: finished, client gone, server stopping,
    or never started."""

    def __init__(self, content: AsyncIterator[str], on_close: Callable[[], None]) -> None:
        super().__init__(
            content,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )
        self.on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.on_close()


def format_event(name: str, view: TaskView) -> str:
    return f"id: {view.version}\nevent: {name}\ndata: {json.dumps(view.data, separators=(',', ':'))}\n\n"


@router.get(
    "/task/{task_id}/events",
    summary="Follow a task (Server-Sent Events)",
    description="The task's changes as they happen, instead of polling GET: see the 200 response. Send the key "
    "in a header as for every call (so `EventSource` needs a polyfill that sets headers; `curl -N` works). "
    "At most `events_max_streams_per_key` streams per key are open at once (default 8); beyond, 429.",
    operation_id="task_events",
    response_class=StreamingResponse,
    responses={
        **schemas.responses(
            EVENT_STREAM_DOC, 401, 404, 429, descriptions={404: "No task with this id belongs to this account."}
        ),
        204: {"description": "The task had already ended in the state named by `Last-Event-ID`: nothing to send."},
    },
)
async def task_events(
    task_id: str, request: Request, account: AccountDep, services: ServicesDep, last_event_id: LastEventId = None
) -> Response:
    public_url = services.settings.public_url
    view = await run_in_threadpool(read_task, services.db, account.id, task_id, public_url)
    if view.status.is_terminal and last_event_id == view.version:
        return Response(status_code=204)
    key = api_key_from(request)
    services.open_streams.open(key)
    return EventStreamResponse(
        _events(services, account.id, view, last_event_id), on_close=lambda: services.open_streams.close(key)
    )


async def _events(services: Services, account_id: str, view: TaskView, last_sent: str | None) -> AsyncIterator[str]:
    keepalive = services.settings.events_keepalive_seconds
    public_url = services.settings.public_url
    task_id = str(view.data["task_id"])
    with services.feed.watch(task_id) as watch:
        yield f"retry: {RETRY_MILLISECONDS}\n\n"
        next_keepalive = time.monotonic() + keepalive
        while True:
            if view.version != last_sent:
                yield format_event("end" if view.status.is_terminal else "task", view)
                last_sent = view.version
                next_keepalive = time.monotonic() + keepalive
            if view.status.is_terminal:
                return
            watch.any_task = view.status is TaskStatus.PENDING  # its queue position moves with the others
            await watch.changed(timeout=next_keepalive - time.monotonic())
            if watch.closed:  # the server is stopping; the client reconnects elsewhere with Last-Event-ID
                return
            if time.monotonic() >= next_keepalive:
                yield ": keep-alive\n\n"
                next_keepalive = time.monotonic() + keepalive
            view = await run_in_threadpool(read_task, services.db, account_id, task_id, public_url)

"""What each MCP tool does, over the same services and functions as the REST routes.

A create tool builds the REST create body from its arguments (``model``, ``task_type``, ``input``) and
submits it as ``POST /api/v1/task`` does, so a bad argument fails with the REST 400's message, naming the
field. It then follows the task, reporting its progress, until it ends; a cancelled call cancels the task.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
from starlette.concurrency import run_in_threadpool

from aceserve.api.deps import Services
from aceserve.api.mcp.catalogue import MAX_LIST_PAGE_SIZE, ToolSpec
from aceserve.api.routes import account as account_routes
from aceserve.api.routes import tasks as task_routes
from aceserve.domain.errors import AceserveError, InvalidInput
from aceserve.domain.states import MODEL_NAME

log = logging.getLogger("aceserve.mcp")

Report = Callable[[float, float | None, str | None], Awaitable[None]]
"""Sends one progress notification: (progress, total, message)."""

_ENDED = ("completed", "failed")
_SUMMARY_META = ("duration", "seed", "plan", "queue_position")


@dataclass(frozen=True)
class Caller:
    """Who calls: the services of this API process and the account the request's key belongs to."""

    services: Services
    account_id: str


class ToolFailed(Exception):
    """The tool ran and failed: reported to the agent as a tool error (``isError``) with this text."""

    def __init__(self, message: str, detail: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


async def call_tool(caller: Caller, tool: ToolSpec, arguments: dict[str, Any], report: Report) -> dict[str, Any]:
    """Run one tool; its structured result. Raises ``ToolFailed`` with the server's message."""
    try:
        if tool.task_type is not None:
            return await _create(caller, tool, arguments, report)
        if tool.name == "get_task":
            task_id = _task_id(arguments)
            task = await run_in_threadpool(task_routes.task_view, caller.services, caller.account_id, task_id)
            if _flag(arguments, "wait", default=False):
                task = await follow(caller, task["task_id"], report)
            return _outcome(task)
        if tool.name == "cancel_task":
            task = await run_in_threadpool(task_routes.cancel, caller.services, caller.account_id, _task_id(arguments))
            return summarize(task)
        if tool.name == "list_tasks":
            page = _integer(arguments, "page", default=1, low=1, high=account_routes.MAX_PAGE)
            size = _integer(arguments, "page_size", default=10, low=1, high=MAX_LIST_PAGE_SIZE)
            found = await run_in_threadpool(
                account_routes.history_page, caller.services, caller.account_id, page=page, page_size=size
            )
            return {
                "page": page,
                "total": found["total"],
                "tasks": [_history_summary(row) for row in found["data"]],
            }
        if tool.name == "account_credit":
            return _credit(await run_in_threadpool(account_routes.account_view, caller.services, caller.account_id))
    except AceserveError as exc:
        raise ToolFailed(f"{exc.status_code}: {exc.message}") from exc
    raise ToolFailed(f"Unknown tool {tool.name!r}.")


async def _create(caller: Caller, tool: ToolSpec, arguments: dict[str, Any], report: Report) -> dict[str, Any]:
    assert tool.task_type is not None
    fields = dict(arguments)
    wait = _flag(fields, "wait", default=True)
    fields.pop("wait", None)
    body = {"model": MODEL_NAME, "task_type": tool.task_type.value, "input": fields}
    task = await task_routes.submit_body(caller.services, caller.account_id, body)
    if not wait:
        return summarize(task)
    return _outcome(await follow(caller, task["task_id"], report))


async def follow(caller: Caller, task_id: str, report: Report) -> dict[str, Any]:
    """Read the task until it ends, reporting its progress; cancels it if the call is cancelled.

    Woken by the task feed the event stream uses (``store.feed``: this process's commits, PostgreSQL
    NOTIFY, else a short poll). MCP progress must increase with every notification, so a task's life is
    one scale from 0 to 1: 0 while it waits (the first notification says its place in the queue), its
    steps while it runs, 1 once it has ended."""
    reported = -1.0
    try:
        with caller.services.feed.watch(task_id) as watch:
            while True:
                task = await run_in_threadpool(task_routes.task_view, caller.services, caller.account_id, task_id)
                value = life_progress(task)
                if value > reported:
                    await report(value, 1.0, _progress_message(task))
                    reported = value
                if task["status"] in _ENDED:
                    return task
                await watch.changed()
                if watch.closed:
                    raise ToolFailed(
                        f"The server is stopping; task {task_id} goes on: follow it with get_task.", summarize(task)
                    )
    except anyio.get_cancelled_exc_class():
        with anyio.CancelScope(shield=True):
            await run_in_threadpool(_cancel_quietly, caller, task_id)
        raise


def life_progress(task: dict[str, Any]) -> float:
    """0 waiting, 0.01–0.99 running (by its progress), 1 ended."""
    status = task["status"]
    if status in _ENDED:
        return 1.0
    if status == "processing":
        return round(0.01 + 0.98 * float(task["meta"].get("progress", 0.0)), 4)
    return 0.0


def _cancel_quietly(caller: Caller, task_id: str) -> None:
    try:
        task_routes.cancel(caller.services, caller.account_id, task_id)
        log.info("MCP call cancelled: task %s cancelled", task_id)
    except AceserveError:  # it ended meanwhile
        pass


def _progress_message(task: dict[str, Any]) -> str:
    status, meta = task["status"], task["meta"]
    if status in ("pending", "staged") and "queue_position" in meta:
        return f"{status}: number {meta['queue_position']} in the queue"
    if status == "processing":
        return f"processing: {round(100 * float(meta.get('progress', 0.0)))}%"
    return str(status)


def summarize(task: dict[str, Any]) -> dict[str, Any]:
    """What an agent needs of a task: id, status, audio URL, duration, seed, plan, error."""
    meta = task.get("meta") or {}
    summary: dict[str, Any] = {"task_id": task["task_id"], "task_type": task["task_type"], "status": task["status"]}
    output = task.get("output") or {}
    if output.get("audio_url"):
        summary["audio_url"] = output["audio_url"]
    summary.update({key: meta[key] for key in _SUMMARY_META if key in meta})
    if task["status"] not in _ENDED:
        summary["progress"] = meta.get("progress", 0.0)
    error = task.get("error") or {}
    if task["status"] == "failed":
        summary["error"] = {"code": error.get("code"), "message": error.get("message")}
    if task.get("logs"):
        summary["notes"] = list(task["logs"])
    return summary


def _outcome(task: dict[str, Any]) -> dict[str, Any]:
    summary = summarize(task)
    if task["status"] == "failed":
        error = summary["error"]
        raise ToolFailed(f"The task failed ({error['code']}): {error['message']}", summary)
    return summary


def _history_summary(row: dict[str, Any]) -> dict[str, Any]:
    output = (row.get("detail") or {}).get("output") or {}
    summary = {
        "task_id": row["task_id"],
        "task_type": row["action"],
        "status": row["status"],
        "created_at": row["created_at"],
    }
    if output.get("audio_url"):
        summary["audio_url"] = output["audio_url"]
    return summary


def _credit(info: dict[str, Any]) -> dict[str, Any]:
    return {
        "account": info["name"],
        "unlimited_credit": info["unlimited_credit"],
        "available_usd": None if info["unlimited_credit"] else info["equivalent_in_usd"],
        "frozen_usd": info["frozen_in_usd"],
        "max_concurrent_tasks": info["max_concurrent_task_count"],
    }


def _task_id(arguments: dict[str, Any]) -> str:
    value = arguments.get("task_id")
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("task_id", f"must be a task id (a non-empty string); got {value!r}")
    return value.strip()


def _flag(arguments: dict[str, Any], name: str, *, default: bool) -> bool:
    value = arguments.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidInput(name, f"must be true or false; got {value!r}")
    return value


def _integer(arguments: dict[str, Any], name: str, *, default: int, low: int, high: int) -> int:
    value = arguments.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(name, f"must be an integer between {low} and {high}; got {value!r}")
    return value

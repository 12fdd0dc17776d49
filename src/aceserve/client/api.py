"""``AceClient``: create, read, cancel tasks; upload and download files. Errors say what the server
said (``ApiError``) or that it could not be reached (``ServerUnreachable``)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from aceserve.client.task import TaskView

MODEL = "Qubico/ace-step"


class ApiError(Exception):
    """The server answered with an error; ``message`` is its own words."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class ServerUnreachable(Exception):
    """No answer from the server (not running, wrong URL, network)."""


class EventsUnavailable(Exception):
    """The server has no task event stream (an older aceserve, or PiAPI itself): poll instead."""


KEEP_ALIVE = None
"""What ``events`` yields for a keep-alive comment: nothing changed, but the stream is alive."""


class AceClient:
    def __init__(
        self, base_url: str, key: str, *, timeout: float = 60.0, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url, headers={"x-api-key": key}, timeout=timeout, transport=transport
        )

    def __enter__(self) -> AceClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def create(
        self,
        task_type: str,
        input: dict[str, Any],
        *,
        config: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> TaskView:
        body: dict[str, Any] = {"model": MODEL, "task_type": task_type, "input": input}
        if config:
            body["config"] = config
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return TaskView.from_wire(self._call("POST", "/api/v1/task", json=body, headers=headers))

    def get(self, task_id: str) -> TaskView:
        return TaskView.from_wire(self._call("GET", f"/api/v1/task/{task_id}"))

    def cancel(self, task_id: str) -> TaskView:
        return TaskView.from_wire(self._call("DELETE", f"/api/v1/task/{task_id}"))

    def account(self) -> dict[str, Any]:
        """``/account/info``: the account, its credit and limits (also a check that the key works)."""
        return self._call("GET", "/account/info")

    def events(self, task_id: str, *, last_event_id: str | None = None) -> Iterator[tuple[str, TaskView] | None]:
        """The task's Server-Sent Events: ``(event id, task)`` on each change, ``None`` on a keep-alive,
        until the ``end`` event or until the server closes the stream (then reconnect with the last id).
        Raises ``EventsUnavailable`` when the server has no event stream."""
        headers = {"Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        try:
            with self._http.stream(
                "GET", f"/api/v1/task/{task_id}/events", headers=headers, timeout=httpx.Timeout(10.0, read=120.0)
            ) as response:
                kind = response.headers.get("content-type", "")
                if response.status_code in (404, 405, 429) or (
                    response.status_code == 200 and not kind.startswith("text/event-stream")
                ):
                    # No such route (or no stream to spare): polling works, and says it if the task is unknown.
                    response.read()
                    raise EventsUnavailable(f"{self.base_url} has no task event stream for this call")
                if response.status_code == 204:
                    return
                if response.status_code >= 400:
                    response.read()
                    raise ApiError(response.status_code, _message(response))
                yield from _parse_events(response.iter_lines())
        except httpx.TransportError as exc:
            raise ServerUnreachable(f"Lost the event stream from {self.base_url}: {exc}") from exc

    def upload(self, path: Path) -> str:
        """Upload a local audio file; returns its URL on the server (usable as any task's audio)."""
        data = base64.b64encode(path.read_bytes()).decode()
        answer = self._call("POST", "/api/ephemeral_resource", json={"file_name": path.name, "file_data": data})
        return str(answer["url"])

    def download(self, url: str, destination: Path) -> int:
        """Write the file at ``url`` to ``destination``; returns its size in bytes."""
        size = 0
        try:
            with self._http.stream("GET", url) as response:
                if response.status_code != 200:
                    response.read()
                    raise ApiError(response.status_code, _message(response))
                with destination.open("wb") as out:
                    for chunk in response.iter_bytes():
                        out.write(chunk)
                        size += len(chunk)
        except httpx.TransportError as exc:
            raise ServerUnreachable(f"Could not download {url}: {exc}") from exc
        return size

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ServerUnreachable(f"Cannot reach the server at {self.base_url}: {exc}") from exc
        if response.status_code >= 400:
            raise ApiError(response.status_code, _message(response))
        try:
            body = response.json()
        except ValueError as exc:
            raise ApiError(response.status_code, f"not a JSON answer: {response.text[:200]!r}") from exc
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise ApiError(response.status_code, f"unexpected answer: {response.text[:200]!r}")
        return data


def _parse_events(lines: Iterator[str]) -> Iterator[tuple[str, TaskView] | None]:
    """Server-Sent Events: fields until a blank line, then the event; comments are keep-alives."""
    event_id, name, data = "", "", []
    for line in lines:
        if line.startswith(":"):
            yield KEEP_ALIVE
            continue
        if line:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "id":
                event_id = value
            elif field == "event":
                name = value
            elif field == "data":
                data.append(value)
            continue
        if data and name in ("task", "end"):
            yield event_id, TaskView.from_wire(json.loads("\n".join(data)))
        event_id, name, data = event_id, "", []


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return response.text[:300]

"""A Server-Sent Events reader for tests: a thread reads the stream, events and comments arrive in a queue."""

from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Event:
    name: str = "message"
    id: str | None = None
    data: str = ""
    comment: str | None = None

    @property
    def task(self) -> dict[str, Any]:
        task: dict[str, Any] = json.loads(self.data)
        return task


@dataclass
class EventReader:
    """Opens ``url`` and reads it until it ends or ``close`` is called. ``status`` and ``headers`` are the
    response's; ``received`` is when each item arrived (monotonic)."""

    url: str
    headers: dict[str, str]
    items: queue.Queue[Event | None] = field(default_factory=queue.Queue)
    status: int = 0
    body: bytes = b""
    response_headers: httpx.Headers = field(default_factory=httpx.Headers)
    ended: threading.Event = field(default_factory=threading.Event)
    opened: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._client = httpx.Client(timeout=httpx.Timeout(60, read=None))
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        assert self.opened.wait(30), f"{self.url} did not answer"

    def _read(self) -> None:
        try:
            with self._client.stream("GET", self.url, headers=self.headers) as response:
                self.status, self.response_headers = response.status_code, response.headers
                if response.status_code != 200:
                    self.body = response.read()
                    self.opened.set()
                    return
                self.opened.set()
                event = Event()
                for line in response.iter_lines():
                    if self._stop.is_set():  # leaving the block closes the connection
                        return
                    if line == "":
                        if event.data or event.id is not None:
                            self.items.put(event)
                        event = Event()
                    elif line.startswith(":"):
                        self.items.put(Event(name="comment", comment=line[1:].strip()))
                    else:
                        name, _, value = line.partition(":")
                        value = value[1:] if value.startswith(" ") else value
                        if name == "event":
                            event.name = value
                        elif name == "id":
                            event.id = value
                        elif name == "data":
                            event.data = f"{event.data}\n{value}" if event.data else value
        except httpx.HTTPError:
            pass
        finally:
            self.opened.set()
            self.ended.set()
            self.items.put(None)

    def next(self, timeout: float = 30, *, skip_comments: bool = True) -> Event | None:
        """The next event (None once the stream ended); fails after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                item = self.items.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no event from {self.url} within {timeout} s") from None
            if item is None:
                self.items.put(None)  # stays ended
                return None
            if not (skip_comments and item.name == "comment"):
                return item

    def close(self) -> None:
        """Hang up (at the next line the server sends: keep-alives make that soon)."""
        self._stop.set()
        self._thread.join(30)
        self._client.close()

"""The client follows a task by the server's event stream and, told to, by polling: both see the same
life (pending or processing, then completed) against a real server with a worker on the tiny checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

from aceserve.client import AceClient, ApiError, watch
from aceserve.client.watch import wait
from tests.e2e.conftest import serve_with_worker


@pytest.mark.parametrize("events", [True, False], ids=["events", "polling"])
def test_watch_follows_a_task_to_its_end(tmp_path: Path, tiny_model: Path, events: bool) -> None:
    database = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    with serve_with_worker(tmp_path / "d", database, tiny_model) as server, AceClient(server.url, server.key) as client:
        task = client.create("txt2audio", {"style_prompt": "x", "duration": 10, "infer_steps": 30})
        seen = list(watch(client, task.id, interval=0.05, events=events))
        assert seen[-1].status == "completed" and seen[-1].audio_url is not None
        assert all(snapshot.status in ("pending", "processing") for snapshot in seen[:-1])
        progress = [snapshot.progress for snapshot in seen if snapshot.status == "processing"]
        assert progress == sorted(progress)  # it only moves forward
        assert wait(client, task.id, events=events).status == "completed"  # an ended task: one snapshot
        if events:  # the stream itself, not a fallback: one `end` event for an ended task
            ((event_id, ended),) = [item for item in client.events(task.id) if item is not None]
            assert event_id.startswith("completed.") and ended.status == "completed"
        with pytest.raises(ApiError) as unknown:
            wait(client, "00000000-0000-4000-8000-000000000000", events=events)
        assert unknown.value.status == 404 and "was not found" in unknown.value.message

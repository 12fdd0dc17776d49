"""Task events across processes: `aceserve api` streams a task that a separate `aceserve worker` process
runs (PostgreSQL: LISTEN/NOTIFY; SQLite: the short poll), and stops at SIGTERM without waiting for the
streams it holds open."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.api.server import free_port, key_for_tester, make_settings
from tests.sse import EventReader

TXT = {"model": "Qubico/ace-step", "task_type": "txt2audio", "input": {"style_prompt": "rain", "duration": 10}}


def wait_ready(client: httpx.Client, *, worker: bool) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            health = client.get("/health")
            if health.status_code == 200 and (
                not worker or any(w["state"] == "ready" for w in health.json()["data"]["workers"])
            ):
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the processes never became ready"
        time.sleep(0.1)


def test_split_api_and_worker_stream_a_task_to_the_end_and_stop_promptly(
    tmp_path: Path, database_url: str, tiny_model: Path
) -> None:
    data_dir = tmp_path / "d"
    key = key_for_tester(make_settings(data_dir, database_url))
    env = {
        **os.environ,
        "ACESERVE_HEARTBEAT_SECONDS": "0.3",
        "ACESERVE_POLL_SECONDS": "0.3",
        "ACESERVE_EVENTS_KEEPALIVE_SECONDS": "1",
        "ACESERVE_LOG_LEVEL": "warning",
    }
    store = ["--data-dir", str(data_dir), "--database-url", database_url]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    api = subprocess.Popen([sys.executable, "-m", "aceserve", "api", "--port", str(port), *store], env=env)
    worker = subprocess.Popen(
        [
            *(sys.executable, "-m", "aceserve", "worker", "--model", str(tiny_model), "--device", "cpu"),
            *("--public-url", url, *store),
        ],
        env=env,
    )
    try:
        with httpx.Client(base_url=url, headers={"x-api-key": key}, timeout=30) as client:
            wait_ready(client, worker=True)
            task_id = client.post("/api/v1/task", json=TXT).json()["data"]["task_id"]
            reader = EventReader(f"{url}/api/v1/task/{task_id}/events", {"x-api-key": key})
            events = []
            while (event := reader.next(timeout=120)) is not None:
                events.append(event)
            reader.close()
            statuses = [event.task["status"] for event in events]
            assert statuses[-1] == "completed" and events[-1].name == "end"
            assert "processing" in statuses, statuses  # written by the worker process, seen by the API's stream
            assert [e.name for e in events[:-1]] == ["task"] * (len(events) - 1)
            assert events[-1].task == client.get(f"/api/v1/task/{task_id}").json()["data"]
            assert events[-1].task["output"]["audio_url"].startswith(url)

            worker.send_signal(signal.SIGTERM)
            assert worker.wait(60) == 0
            waiting = client.post("/api/v1/task", json=TXT).json()["data"]["task_id"]  # nobody will run it
            held = EventReader(f"{url}/api/v1/task/{waiting}/events", {"x-api-key": key})
            first = held.next()
            assert first is not None and first.task["status"] == "pending"
            stopped_at = time.monotonic()
            api.send_signal(signal.SIGTERM)
            assert api.wait(20) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it handled
            assert time.monotonic() - stopped_at < 10, "the open stream held the shutdown"
            assert held.ended.wait(10)
            held.close()
    finally:
        for process in (worker, api):
            if process.poll() is None:
                process.kill()
                process.wait(30)

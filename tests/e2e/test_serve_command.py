"""`aceserve serve --model tiny` as a user runs it: a real process that prints its URL and a key,
takes a task, completes it, and shuts down cleanly on SIGTERM with nothing lost."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from aceserve.store.db import Database
from aceserve.store.workers import list_workers
from tests.api.server import free_port
from tests.e2e.conftest import wait_for


def start_serve(data_dir: Path, port: int, database_url: str) -> subprocess.Popen[str]:
    command = [
        sys.executable,
        "-m",
        "aceserve",
        "serve",
        "--model",
        "tiny",
        "--device",
        "cpu",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--database-url",
        database_url,
    ]
    env = {**os.environ, "ACESERVE_LOG_LEVEL": "warning"}
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def read_until(process: subprocess.Popen[str], pattern: str, timeout: float = 120) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if re.search(pattern, line):
            return lines
    raise AssertionError(f"no line matching {pattern!r}; got {lines!r}; stderr: {process.stderr}")


def test_serve_prints_a_key_runs_a_task_and_stops_cleanly(tmp_path: Path, database_url: str) -> None:
    port = free_port()
    process = start_serve(tmp_path / "data", port, database_url)
    try:
        output = "".join(read_until(process, r"listening on"))
        key = re.search(r"\b(ak_[A-Za-z0-9_-]+)", output)
        assert key is not None, output
        assert f"http://127.0.0.1:{port}" in output
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"x-api-key": key.group(1)}) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if client.get("/health").json()["data"]["ready"]:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the server never became ready"
                time.sleep(0.1)
            body = {
                "model": "Qubico/ace-step",
                "task_type": "txt2audio",
                "input": {"style_prompt": "x", "duration": 10},
            }
            task_id = client.post("/api/v1/task", json=body).json()["data"]["task_id"]
            assert wait_for(client, task_id)["status"] == "completed"
        process.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal so the exit status says why.
        assert process.wait(60) in (0, -signal.SIGTERM)
        db = Database(database_url)
        assert [worker.state for worker in list_workers(db)] == ["stopped"]  # the lifespan's shutdown ran
        db.dispose()
        assert process.stderr is not None
        assert "NOISE" in process.stderr.read()  # the tiny checkpoint is announced loudly
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    second = start_serve(tmp_path / "data", free_port(), database_url)
    try:
        assert "First start" not in "".join(read_until(second, r"listening on"))  # the key is not printed again
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(60)

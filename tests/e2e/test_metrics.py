"""/metrics as an operator reads it: counters and histograms move as tasks run, gauges of shared state
come from the database, one lifecycle log line per transition; and with split processes (API and
worker apart, PROMETHEUS_MULTIPROC_DIR shared) the API's /metrics counts what the worker did."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.api.server import free_port, key_for_tester, make_settings
from tests.e2e.conftest import serve_with_worker, wait_for
from tests.e2e.test_task_types import create

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: httpx.Client, url: str = "/metrics", **headers: str) -> Samples:
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def delta(after: Samples, before: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


SLOW = {"style_prompt": "slow", "duration": 60, "infer_steps": 200}
TXT = {"task_type": "txt2audio"}


def test_metrics_move_as_tasks_run(
    tmp_path: Path, database_url: str, tiny_model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aceserve.tasks")
    with serve_with_worker(tmp_path / "d", database_url, tiny_model) as server:
        wait_for_ready(server.client)
        before = scrape(server.client)
        one_slot = server.as_key(server.new_key("one-slot", max_concurrent=1))
        body = {"model": "Qubico/ace-step", "task_type": "txt2audio"}
        running = one_slot.post("/api/v1/task", json={**body, "input": SLOW}).json()["data"]["task_id"]
        wait_for(one_slot, running, ("processing",))
        staged = one_slot.post("/api/v1/task", json={**body, "input": SLOW}).json()["data"]["task_id"]
        deadline = time.monotonic() + 30
        while value(during := scrape(server.client), "aceserve_workers", state="busy") != 1:
            assert time.monotonic() < deadline, during  # the worker says busy just after its claim
            time.sleep(0.05)
        assert value(during, "aceserve_queue_tasks", status="processing") == 1
        assert value(during, "aceserve_queue_tasks", status="staged") == 1
        one_slot.delete(f"/api/v1/task/{staged}")
        one_slot.delete(f"/api/v1/task/{running}")
        assert wait_for(one_slot, running)["status"] == "failed"
        done = [wait_for(server.client, create(server, "txt2audio", style_prompt="x", duration=d)) for d in (10, 12)]
        assert [task["status"] for task in done] == ["completed", "completed"]
        deadline = time.monotonic() + 30
        while value(after := scrape(server.client), "aceserve_workers", state="ready") != 1:
            assert time.monotonic() < deadline, after  # the worker says ready at its heartbeat after the batch
            time.sleep(0.05)
        one_slot.close()

    assert delta(after, before, "aceserve_tasks_created_total", **TXT) == 4
    assert delta(after, before, "aceserve_tasks_cancelled_total", **TXT) == 2
    assert delta(after, before, "aceserve_tasks_completed_total", **TXT) == 2
    assert delta(after, before, "aceserve_tasks_failed_total", **TXT) == 0
    assert delta(after, before, "aceserve_audio_seconds_total", **TXT) == pytest.approx(22.0, abs=0.01)
    consumed = sum(task["meta"]["usage"]["consume"] for task in done) / 1e6
    assert consumed > 0
    assert delta(after, before, "aceserve_credit_consumed_usd_total", **TXT) == pytest.approx(consumed)
    assert delta(after, before, "aceserve_task_queue_seconds_count", **TXT) == 3  # three runs were claimed
    assert delta(after, before, "aceserve_task_run_seconds_count", **TXT) == 3  # and each ended
    assert delta(after, before, "aceserve_task_run_seconds_sum", **TXT) > 0
    assert delta(after, before, "aceserve_batch_size_count") >= 2
    assert value(after, "aceserve_queue_tasks", status="processing") == 0
    assert value(after, "aceserve_queue_tasks", status="staged") == 0
    assert value(after, "aceserve_workers", state="ready") == 1
    assert value(after, "aceserve_webhook_deliveries", state="pending") == 0

    lines = [record for record in caplog.records if record.name == "aceserve.tasks"]
    said = [record.task_fields["transition"] for record in lines if record.task_fields["task_id"] == done[0]["task_id"]]
    assert said == ["created", "started", "completed"]
    cancelled = [record.getMessage() for record in lines if record.task_fields["task_id"] == running]
    assert cancelled[-1].startswith("task cancelled ") and "run_seconds=" in cancelled[-1]
    assert f"task_id={running}" in cancelled[-1] and "task_type=txt2audio" in cancelled[-1]


def wait_for_ready(client: httpx.Client) -> None:
    deadline = time.monotonic() + 120
    while client.get("/health/ready").status_code != 200:
        assert time.monotonic() < deadline, "no worker became ready"
        time.sleep(0.05)


def test_split_processes_share_counters_and_read_gauges_from_the_database(
    tmp_path: Path, database_url: str, tiny_model: Path
) -> None:
    data_dir = tmp_path / "d"
    settings = make_settings(data_dir, database_url)
    key = key_for_tester(settings)
    shared_dir = tmp_path / "prometheus"
    shared_dir.mkdir()
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(shared_dir),
        "ACESERVE_METRICS_TOKEN": "scrape-me",
        "ACESERVE_HEARTBEAT_SECONDS": "0.5",
        "ACESERVE_POLL_SECONDS": "0.3",
        "ACESERVE_LOG_LEVEL": "info",
    }
    store = ["--data-dir", str(data_dir), "--database-url", database_url]
    api_port, worker_port = free_port(), free_port()
    api = subprocess.Popen(
        [sys.executable, "-m", "aceserve", "api", "--port", str(api_port), *store],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = subprocess.Popen(
        [
            *(sys.executable, "-m", "aceserve", "worker", "--model", str(tiny_model), "--device", "cpu"),
            *("--metrics-port", str(worker_port), "--log-format", "json"),
            *("--public-url", f"http://127.0.0.1:{api_port}", *store),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    token = {"authorization": "Bearer scrape-me"}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{api_port}", headers={"x-api-key": key}, timeout=30) as client:
            deadline = time.monotonic() + 120
            while True:
                try:
                    body = client.get("/health").json()["data"]
                    if any(w["state"] == "ready" for w in body["workers"]):
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the worker never became ready"
                time.sleep(0.1)
            refused = client.get("/metrics")
            assert refused.status_code == 401 and "ACESERVE_METRICS_TOKEN" in refused.json()["message"]
            assert refused.headers["www-authenticate"] == "Bearer"
            body = {"model": "Qubico/ace-step", "task_type": "txt2audio"}
            ids = [
                client.post("/api/v1/task", json={**body, "input": {"style_prompt": "x", "duration": 10}}).json()[
                    "data"
                ]["task_id"]
                for _ in range(3)
            ]
            assert [wait_for(client, task_id)["status"] for task_id in ids] == ["completed"] * 3
            seen = scrape(client, **token)
            from_worker = scrape(httpx.Client(), f"http://127.0.0.1:{worker_port}/metrics")
    finally:
        worker.terminate()
        api.terminate()
        worker.wait(60)
        api.wait(60)
    # Created in the API process, completed in the worker's: the API's /metrics sums both.
    assert value(seen, "aceserve_tasks_created_total", **TXT) == 3
    assert value(seen, "aceserve_tasks_completed_total", **TXT) == 3
    assert value(seen, "aceserve_audio_seconds_total", **TXT) == pytest.approx(30.0, abs=0.01)
    assert value(seen, "aceserve_task_run_seconds_count", **TXT) == 3
    assert value(seen, "aceserve_workers", state="ready") + value(seen, "aceserve_workers", state="busy") == 1
    assert value(seen, "aceserve_queue_tasks", status="pending") == 0
    assert value(from_worker, "aceserve_tasks_completed_total", **TXT) == 3
    assert worker.stderr is not None
    events = [json.loads(line) for line in worker.stderr.read().splitlines() if line.startswith("{")]
    completed: list[dict[str, Any]] = [e for e in events if e.get("transition") == "completed"]
    assert sorted(e["task_id"] for e in completed) == sorted(ids)
    assert all(e["logger"] == "aceserve.tasks" and e["run_seconds"] > 0 for e in completed)
    assert all(e["audio_seconds"] == pytest.approx(10.0, abs=0.01) for e in completed)

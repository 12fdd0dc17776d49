"""Audio given as a URL: its length is known only once the worker has fetched it. The create step
freezes a documented estimate; before generating, the worker freezes the rest or fails the task for
want of credit, and a balance never goes negative (contract §7)."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from aceserve.domain.billing import URL_AUDIO_ESTIMATE_SECONDS
from tests.api.server import RunningServer
from tests.audio import tone_wav
from tests.e2e.conftest import serve_with_worker, wait_for
from tests.loopback import LoopbackServer, serving

SECONDS = 35  # longer than the estimate, so the worker must freeze more


@pytest.fixture(scope="module")
def audio_url() -> Iterator[str]:
    data = tone_wav(SECONDS)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "audio/wav")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with serving(LoopbackServer(Handler)) as server:
        yield server.url("/in.wav")


@pytest.fixture
def server(tmp_path: Path, database_url: str, tiny_model: Path) -> Iterator[RunningServer]:
    with serve_with_worker(tmp_path / "data", database_url, tiny_model, allow_private_fetch=True) as running:
        yield running


def restyle(client: Any, url: str) -> dict[str, Any]:
    body = {"model": "Qubico/ace-step", "task_type": "audio2audio", "input": {"style_audio": url, "style_prompt": "x"}}
    response = client.post("/api/v1/task", json=body)
    assert response.status_code == 200, response.text
    task: dict[str, Any] = response.json()["data"]
    return task


def test_a_url_input_freezes_an_estimate_then_its_real_length_and_consumes_that(
    server: RunningServer, audio_url: str
) -> None:
    with server.as_key(server.new_key("metered", credits_usd=0.02)) as client:
        created = restyle(client, audio_url)
        assert created["meta"]["usage"]["frozen"] == URL_AUDIO_ESTIMATE_SECONDS * 500
        assert "duration" not in created["input"]
        assert any("is a URL" in line and "estimated" in line for line in created["logs"])
        task = wait_for(client, created["task_id"])
        assert task["status"] == "completed", task["error"]
        assert task["input"]["duration"] == SECONDS  # the default, echoed once known
        assert task["meta"]["usage"] == {"type": "llm", "frozen": 0, "consume": SECONDS * 500}
        info = client.get("/account/info").json()["data"]
    assert info["credit_pack_info"] == {"used_credits": 17_500, "available_credits": 2_500, "total_credits": 20_000}


def test_a_url_input_longer_than_the_credit_fails_saying_why_and_never_overdraws(
    server: RunningServer, audio_url: str
) -> None:
    with server.as_key(server.new_key("short", credits_usd=0.016)) as client:
        created = restyle(client, audio_url)
        task = wait_for(client, created["task_id"])
        info = client.get("/account/info").json()["data"]
    assert task["status"] == "failed" and task["error"]["code"] == 402
    message = task["error"]["message"]
    assert message.startswith("Insufficient credit: this task needs $0.0175 for 35 s of audio at $0.0005/s")
    assert "`input.style_audio`, which is 35.0 s long" in message and "$0.0010 available" in message
    assert task["meta"]["usage"] == {"type": "llm", "frozen": 0, "consume": 0}
    assert info["equivalent_in_usd"] == 0.016 and info["frozen_in_usd"] == 0

"""All four task types through HTTP on the tiny checkpoint; the downloaded file has the right length."""

from __future__ import annotations

import base64
import io
from typing import Any

import httpx
import soundfile

from aceserve.media import decode_audio
from tests.api.server import RunningServer
from tests.e2e.conftest import wait_for


def create(server: RunningServer, task_type: str, **fields: Any) -> str:
    body = {"model": "Qubico/ace-step", "task_type": task_type, "input": fields}
    response = server.client.post("/api/v1/task", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["task_id"])


def completed(server: RunningServer, task_id: str) -> dict[str, Any]:
    task = wait_for(server.client, task_id)
    assert task["status"] == "completed", task["error"]
    return task


def download_seconds(url: str) -> float:
    response = httpx.get(url)
    assert response.status_code == 200
    return decode_audio(response.content).shape[-1] / 48_000


def test_txt2audio_completes_with_a_wav_of_the_requested_length(server: RunningServer) -> None:
    task = completed(
        server, create(server, "txt2audio", style_prompt="synthwave", duration=10, seed=5, output_format="wav")
    )
    response = httpx.get(task["output"]["audio_url"])
    assert response.headers["content-type"] == "audio/wav"
    data, rate = soundfile.read(io.BytesIO(response.content))
    assert rate == 48_000 and data.shape == (480_000, 2)
    meta = task["meta"]
    assert meta["seed"] == 5 and meta["progress"] == 1.0
    assert meta["usage"] == {"type": "llm", "frozen": 0, "consume": 5000}  # 10 s at $0.0005/s, in 1e-6 USD
    assert meta["started_at"] != "0001-01-01T00:00:00Z" and meta["ended_at"] >= meta["started_at"]


def test_turbo_names_an_ignored_infer_step_in_the_logs(server: RunningServer) -> None:
    task = completed(server, create(server, "txt2audio", style_prompt="lofi", duration=2, infer_step=27, lora_scale=1))
    assert any("`infer_steps` 27 was ignored" in line for line in task["logs"]), task["logs"]
    assert task["meta"]["steps"] == 8


def test_an_unknown_adapter_is_refused_at_create_naming_the_field(server: RunningServer) -> None:
    body = {"model": "Qubico/ace-step", "task_type": "txt2audio", "input": {"style_prompt": "x", "lora": "nope"}}
    response = server.client.post("/api/v1/task", json=body)
    assert response.status_code == 400
    assert "input.lora" in response.json()["message"] and "nope" in response.json()["message"]


def test_a_repaint_span_past_the_end_of_inline_audio_is_refused_at_create(
    server: RunningServer, ten_second_wav: bytes
) -> None:
    body = {
        "model": "Qubico/ace-step",
        "task_type": "edit",
        "input": {
            "audio": base64.b64encode(ten_second_wav).decode(),
            "style_prompt": "pop",
            "edit_style_prompt": "rock",
            "repaint_start": 4,
            "repaint_end": 12,
        },
    }
    response = server.client.post("/api/v1/task", json=body)
    assert response.status_code == 400
    assert "input.repaint_end" in response.json()["message"]


def test_audio2audio_from_inline_base64_keeps_the_input_length(server: RunningServer, ten_second_wav: bytes) -> None:
    task = completed(
        server,
        create(
            server, "audio2audio", style_audio=base64.b64encode(ten_second_wav).decode(), style_prompt="piano cover"
        ),
    )
    assert task["output"]["audio_url"].endswith(".mp3")
    assert task["input"]["duration"] == 10.0  # the input's length, known at create
    assert abs(download_seconds(task["output"]["audio_url"]) - 10.0) < 0.1
    assert task["meta"]["usage"]["consume"] == 5000


def test_edit_of_an_uploaded_file_keeps_the_input_length(server: RunningServer, ten_second_wav: bytes) -> None:
    upload = server.client.post(
        "/api/ephemeral_resource", json={"file_name": "in.wav", "file_data": base64.b64encode(ten_second_wav).decode()}
    )
    url = upload.json()["data"]["url"]
    task = completed(
        server,
        create(
            server,
            "edit",
            audio=url,
            style_prompt="pop",
            lyrics="[verse] la la",
            edit_style_prompt="metal",
            edit_lyrics="[verse] ya ya",
            output_format="flac",
        ),
    )
    assert abs(download_seconds(task["output"]["audio_url"]) - 10.0) < 0.01


def test_extend_chains_from_another_tasks_output(server: RunningServer) -> None:
    source = completed(server, create(server, "txt2audio", style_prompt="drums", duration=10, output_format="wav"))
    task = completed(
        server,
        create(
            server,
            "extend",
            audio=source["output"]["audio_url"],
            style_prompt="drums",
            left_extend_duration=2,
            right_extend_duration=3,
            output_format="wav",
        ),
    )
    assert abs(download_seconds(task["output"]["audio_url"]) - 15.0) < 0.01
    assert task["meta"]["usage"]["consume"] == 15 * 500


def test_undecodable_inline_input_is_refused_at_create_naming_the_field(server: RunningServer) -> None:
    body = {
        "model": "Qubico/ace-step",
        "task_type": "audio2audio",
        "input": {"style_audio": base64.b64encode(b"this is not audio" * 100).decode(), "style_prompt": "x"},
    }
    response = server.client.post("/api/v1/task", json=body)
    assert response.status_code == 400 and "`input.style_audio`" in response.json()["message"]
    assert "decoded as audio" in response.json()["message"]
    assert server.client.get("/account/active_tasks").json()["data"]["ace_step"]["active_tasks"] == 0


def test_private_input_url_fails_the_task_saying_so(server: RunningServer) -> None:
    task = wait_for(
        server.client, create(server, "edit", audio="http://10.1.2.3/a.mp3", style_prompt="a", edit_style_prompt="b")
    )
    assert task["status"] == "failed" and "private" in task["error"]["message"]


def test_health_shows_the_worker_ready(server: RunningServer) -> None:
    deadline_body: dict[str, Any] = {}
    for _ in range(200):
        deadline_body = httpx.get(server.url + "/health").json()["data"]
        if deadline_body["ready"]:
            break
        import time

        time.sleep(0.05)
    assert deadline_body["ready"] is True
    (worker,) = deadline_body["workers"]
    assert worker["state"] in ("ready", "busy") and worker["device"] == "cpu"


def test_txt2audio_with_musical_metadata_completes_and_echoes_it(server: RunningServer) -> None:
    metas = {"bpm": 92, "key_scale": "F# minor", "time_signature": 3, "vocal_language": "ja"}
    task = completed(server, create(server, "txt2audio", style_prompt="lofi", lyrics="[verse] a", duration=2, **metas))
    assert {name: task["input"][name] for name in metas} == metas


def test_thinking_on_a_server_without_a_planner_fails_the_task_saying_why(server: RunningServer) -> None:
    task = wait_for(server.client, create(server, "txt2audio", style_prompt="lofi", duration=2, thinking=True))
    assert task["status"] == "failed"
    assert "without the 5 Hz LM planner" in task["error"]["message"]

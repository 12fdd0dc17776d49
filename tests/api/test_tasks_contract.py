"""The wire contract of /api/v1/task, field by field (spec §1–§4)."""

from __future__ import annotations

import base64
import re
import uuid
from typing import Any

import httpx
import pytest

from tests.api.server import RunningServer

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
ZERO = "0001-01-01T00:00:00Z"


def txt2audio(**input_fields: Any) -> dict[str, Any]:
    return {"model": "Qubico/ace-step", "task_type": "txt2audio", "input": {"style_prompt": "rock", **input_fields}}


def assert_error(response: httpx.Response, status: int, *needles: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "data", "message"}
    assert body["code"] == status and body["data"] is None
    assert isinstance(body["message"], str) and body["message"]
    for needle in needles:
        assert needle in body["message"], body["message"]


def test_create_returns_the_task_object_exactly_as_the_contract_shows(api_server: RunningServer) -> None:
    response = api_server.client.post("/api/v1/task", json=txt2audio())
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"code", "data", "message"} and body["code"] == 200 and body["message"] == "success"
    task = body["data"]
    assert set(task) == {
        "task_id",
        "model",
        "task_type",
        "status",
        "config",
        "input",
        "output",
        "meta",
        "detail",
        "logs",
        "error",
    }
    assert UUID4.match(task["task_id"])
    assert task["model"] == "Qubico/ace-step" and task["task_type"] == "txt2audio"
    assert task["status"] == "pending"
    assert task["config"] == {"service_mode": "", "webhook_config": {"endpoint": "", "secret": ""}}
    assert task["input"] == {
        "duration": 30,
        "lyrics": "[inst]",
        "negative_style_prompt": "",
        "style_audio": "",
        "style_prompt": "rock",
    }
    assert list(task["input"]) == sorted(task["input"])
    assert task["output"] is None and task["detail"] is None and task["logs"] == []
    assert task["error"] == {"code": 0, "raw_message": "", "message": "", "detail": None}
    meta = task["meta"]
    assert RFC3339.match(meta["created_at"])
    assert meta["started_at"] == ZERO and meta["ended_at"] == ZERO
    assert meta["usage"] == {"type": "llm", "frozen": 30 * 500, "consume": 0}
    assert meta["is_using_private_pool"] is False


def test_get_returns_the_same_task(api_server: RunningServer) -> None:
    created = api_server.client.post("/api/v1/task", json=txt2audio(duration=12)).json()["data"]
    fetched = api_server.client.get(f"/api/v1/task/{created['task_id']}").json()
    assert fetched["code"] == 200 and fetched["message"] == "success"
    assert fetched["data"]["task_id"] == created["task_id"]
    assert fetched["data"]["input"] == created["input"]


def test_aliases_are_echoed_under_canonical_names(api_server: RunningServer) -> None:
    body = txt2audio(negative_prompt="noise", unknown_field=1)
    data = api_server.client.post("/api/v1/task", json=body).json()["data"]
    assert data["input"]["negative_style_prompt"] == "noise"
    assert "negative_prompt" not in data["input"] and "unknown_field" not in data["input"]


def test_service_mode_and_webhook_config_are_echoed(api_server: RunningServer) -> None:
    body = {
        **txt2audio(),
        "config": {
            "service_mode": "public",
            "webhook_config": {"endpoint": "https://example.com/hook", "secret": "s3"},
        },
    }
    data = api_server.client.post("/api/v1/task", json=body).json()["data"]
    assert data["config"] == {
        "service_mode": "public",
        "webhook_config": {"endpoint": "https://example.com/hook", "secret": "s3"},
    }


def test_inline_base64_audio_is_stored_and_echoed_as_a_url(api_server: RunningServer, wav_bytes: bytes) -> None:
    body = {
        "model": "Qubico/ace-step",
        "task_type": "extend",
        "input": {"audio": base64.b64encode(wav_bytes).decode(), "style_prompt": "jazz"},
    }
    data = api_server.client.post("/api/v1/task", json=body).json()["data"]
    url = data["input"]["audio"]
    assert url.startswith(api_server.url + "/files/") and url.endswith(".wav")
    download = api_server.client.get(url)
    assert download.status_code == 200 and download.content == wav_bytes
    assert download.headers["content-type"] == "audio/wav"


def test_idempotency_key_returns_the_original_task(api_server: RunningServer) -> None:
    headers = {"Idempotency-Key": "order-42"}
    first = api_server.client.post("/api/v1/task", json=txt2audio(), headers=headers).json()["data"]
    again = api_server.client.post("/api/v1/task", json=txt2audio(duration=60), headers=headers).json()["data"]
    assert again["task_id"] == first["task_id"] and again["input"]["duration"] == 30
    other = api_server.client.post("/api/v1/task", json=txt2audio(), headers={"Idempotency-Key": "order-43"})
    assert other.json()["data"]["task_id"] != first["task_id"]


@pytest.mark.parametrize("headers", [{"X-API-KEY": "{key}"}, {"x-api-key": "{key}"}, {"Authorization": "Bearer {key}"}])
def test_api_key_is_accepted_in_any_header_case_and_as_bearer(
    api_server: RunningServer, headers: dict[str, str]
) -> None:
    filled = {name: value.format(key=api_server.key) for name, value in headers.items()}
    response = api_server.anonymous().post("/api/v1/task", json=txt2audio(), headers=filled)
    assert response.status_code == 200


@pytest.mark.parametrize("headers", [{}, {"x-api-key": "ak_wrong"}, {"Authorization": "Basic abc"}])
def test_missing_or_wrong_key_is_401(api_server: RunningServer, headers: dict[str, str]) -> None:
    assert_error(api_server.anonymous().post("/api/v1/task", json=txt2audio(), headers=headers), 401, "API key")


def test_key_in_query_string_is_not_accepted(api_server: RunningServer) -> None:
    response = api_server.anonymous().get(f"/api/v1/task/{uuid.uuid4()}?x-api-key={api_server.key}")
    assert_error(response, 401)


def test_other_accounts_tasks_are_404(api_server: RunningServer) -> None:
    task_id = api_server.client.post("/api/v1/task", json=txt2audio()).json()["data"]["task_id"]
    with api_server.as_key(api_server.new_key("mallory")) as other:
        assert_error(other.get(f"/api/v1/task/{task_id}"), 404, task_id)
        assert_error(other.delete(f"/api/v1/task/{task_id}"), 404, task_id)


@pytest.mark.parametrize(
    "task_id",
    [str(uuid.uuid4()), "not-a-uuid", "../../etc/passwd"],
    ids=["unknown-uuid", "not-a-uuid", "traversal"],  # the same ids in every xdist worker's collection
)
def test_unknown_task_is_404(api_server: RunningServer, task_id: str) -> None:
    assert_error(api_server.client.get(f"/api/v1/task/{task_id}"), 404)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"task_type": "txt2audio", "input": {"style_prompt": "x"}}, "`model`"),
        ({**txt2audio(), "model": "other/model"}, "`model`"),
        ({**txt2audio(), "task_type": "remix"}, "`task_type`"),
        (txt2audio(duration=0.5), "`input.duration`"),
        (txt2audio(duration="long"), "`input.duration`"),
        ({"model": "Qubico/ace-step", "task_type": "txt2audio", "input": {}}, "`input.style_prompt`"),
        (
            {"model": "Qubico/ace-step", "task_type": "extend", "input": {"audio": "%%%", "style_prompt": "x"}},
            "`input.audio`",
        ),
        (txt2audio(output_format="ogg"), "`input.output_format`"),
        ({**txt2audio(), "config": {"webhook_config": {"endpoint": "ftp://x"}}}, "`config.webhook_config.endpoint`"),
        ([1, 2], "`body`"),
    ],
)
def test_invalid_input_is_400_naming_the_field_and_leaves_nothing(
    api_server: RunningServer, body: Any, field: str
) -> None:
    assert_error(api_server.client.post("/api/v1/task", json=body), 400, field)
    assert api_server.client.get("/account/active_tasks").json()["data"]["ace_step"]["active_tasks"] == 0


def test_malformed_json_is_400(api_server: RunningServer) -> None:
    response = api_server.client.post(
        "/api/v1/task", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_error(response, 400, "`body`")


def test_oversized_body_is_413_even_without_content_length(live_server: RunningServer) -> None:
    limit = live_server.settings.max_body_bytes

    def chunks() -> Any:
        sent = 0
        while sent <= limit:
            yield b"x" * 65536
            sent += 65536

    response = live_server.client.post("/api/v1/task", content=chunks(), headers={"content-type": "application/json"})
    assert_error(response, 413, "limit")


def test_cancel_pending_task_ends_it_failed_with_a_cancel_message(api_server: RunningServer) -> None:
    task_id = api_server.client.post("/api/v1/task", json=txt2audio()).json()["data"]["task_id"]
    response = api_server.client.delete(f"/api/v1/task/{task_id}")
    assert response.status_code == 200
    task = response.json()["data"]
    assert task["status"] == "failed" and "cancelled" in task["error"]["message"]
    assert task["meta"]["usage"] == {"type": "llm", "frozen": 0, "consume": 0}
    assert task["meta"]["ended_at"] != ZERO
    assert_error(api_server.client.delete(f"/api/v1/task/{task_id}"), 400, "already failed")


def test_unknown_route_and_wrong_method_use_the_envelope(api_server: RunningServer) -> None:
    assert_error(api_server.client.get("/api/v1/nothing"), 404)
    assert_error(api_server.client.put("/api/v1/task/x"), 405)


def test_openapi_document_lists_the_endpoints(api_server: RunningServer) -> None:
    paths = api_server.client.get("/openapi.json").json()["paths"]
    assert {
        "/api/v1/task",
        "/api/v1/task/{task_id}",
        "/api/ephemeral_resource",
        "/account/info",
        "/account/active_tasks",
        "/api/open/tasks/histories",
        "/health",
    } <= set(paths)
    assert api_server.client.get("/docs").status_code == 200


def test_pending_tasks_report_their_queue_position(api_server: RunningServer) -> None:
    ids = [api_server.client.post("/api/v1/task", json=txt2audio()).json()["data"]["task_id"] for _ in range(3)]
    positions = [
        api_server.client.get(f"/api/v1/task/{task_id}").json()["data"]["meta"]["queue_position"] for task_id in ids
    ]
    assert positions == [1, 2, 3]
    api_server.client.delete(f"/api/v1/task/{ids[0]}")
    after = api_server.client.get(f"/api/v1/task/{ids[2]}").json()["data"]["meta"]
    assert after["queue_position"] == 2
    assert "queue_position" not in api_server.client.get(f"/api/v1/task/{ids[0]}").json()["data"]["meta"]


def test_text_fields_are_echoed_verbatim_even_when_they_look_like_file_paths(api_server: RunningServer) -> None:
    data = api_server.client.post("/api/v1/task", json=txt2audio(lyrics="/files/abc.mp3")).json()["data"]
    assert data["input"]["lyrics"] == "/files/abc.mp3"


def test_a_file_whose_bytes_are_gone_is_404(api_server: RunningServer, wav_bytes: bytes) -> None:
    upload = api_server.client.post(
        "/api/ephemeral_resource", json={"file_name": "a.wav", "file_data": base64.b64encode(wav_bytes).decode()}
    )
    url = upload.json()["data"]["url"]
    for path in (api_server.settings.files_dir).rglob("*.wav"):
        path.unlink()
    assert_error(api_server.client.get(url), 404)


@pytest.mark.parametrize("key", ["", "k" * 256])
def test_an_idempotency_key_outside_1_to_255_characters_is_400_naming_the_header(
    api_server: RunningServer, key: str
) -> None:
    response = api_server.client.post("/api/v1/task", json=txt2audio(), headers={"Idempotency-Key": key})
    assert_error(response, 400, "`Idempotency-Key`")

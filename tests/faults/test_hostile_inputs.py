"""A hostile-input corpus: malformed JSON, wrong types, huge bodies, hostile Unicode, wrong content
types, non-audio and over-long audio. Every request is answered below 500 in the envelope, and the
server logs no error."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.server import RunningServer, make_settings, serving
from tests.audio import tone_wav

TASK = "/api/v1/task"
UPLOAD = "/api/ephemeral_resource"
JSON = {"content-type": "application/json"}


def _body(**input_: Any) -> dict[str, Any]:
    return {"model": "Qubico/ace-step", "task_type": "txt2audio", "input": {"style_prompt": "rock", **input_}}


def _raw(text: str) -> bytes:
    """JSON text as the client wrote it (escapes such as ``\\ud800`` reach the server as written)."""
    return text.encode("utf-8")


MALFORMED: list[tuple[str, bytes]] = [
    ("empty", b""),
    ("open brace", b"{"),
    ("not json", b"{not json"),
    ("invalid utf-8", b'{"model": "\xff\xfe"}'),
    ("null", b"null"),
    ("array", b"[]"),
    ("string", b'"txt2audio"'),
    ("deep arrays", b"[" * 100_000 + b"]" * 100_000),
    ("deep objects", b'{"a":' * 5000 + b"1" + b"}" * 5000),
    ("deep unclosed", b"[" * 50_000),
    ("huge integer", b'{"model": "Qubico/ace-step", "x": ' + b"9" * 5000 + b"}"),
    ("huge float", b'{"input": {"duration": 1.' + b"5" * 5000 + b"}}"),
    ("huge exponent", b'{"model": "Qubico/ace-step", "task_type": "txt2audio", "input": {"duration": 1e999}}'),
    ("nan", b'{"model": "Qubico/ace-step", "task_type": "txt2audio", "input": {"style_prompt": "a", "seed": NaN}}'),
    (
        "lone surrogate value",
        _raw('{"model": "Qubico/ace-step", "task_type": "txt2audio", "input": {"style_prompt": "\\ud800"}}'),
    ),
    ("lone surrogate key", _raw('{"model": "Qubico/ace-step", "task_type": "\\udfff", "input": {}}')),
    ("surrogate in model", _raw('{"model": "\\ud83d", "task_type": "txt2audio"}')),
    (
        "nul in lyrics",
        _raw(
            '{"model": "Qubico/ace-step", "task_type": "txt2audio", '
            '"input": {"style_prompt": "a", "lyrics": "\\u0000"}}'
        ),
    ),
    ("bom", "\ufeff{}".encode()),
    ("utf-16", json.dumps(_body()).encode("utf-16")),
]

WRONG_TYPES: list[tuple[str, Any]] = [
    ("input array", {"model": "Qubico/ace-step", "task_type": "txt2audio", "input": []}),
    ("input string", {"model": "Qubico/ace-step", "task_type": "txt2audio", "input": "x"}),
    ("task_type number", {"model": "Qubico/ace-step", "task_type": 5, "input": {}}),
    ("task_type list", {"model": "Qubico/ace-step", "task_type": ["txt2audio"], "input": {}}),
    ("duration string", _body(duration="30")),
    ("duration bool", _body(duration=True)),
    ("seed negative", _body(seed=-1)),
    ("seed 2^64", _body(seed=2**64)),
    ("steps fraction", _body(infer_steps=1.5)),
    ("prompt object", _body(style_prompt={"a": 1})),
    ("prompt huge", _body(style_prompt="a" * 1_000_001)),
    ("lyrics huge", _body(lyrics="la " * 100_000)),
    ("config array", {**_body(), "config": []}),
    ("webhook surrogate", {**_body(), "config": {"webhook_config": {"endpoint": "http://example.com/\ud800"}}}),
    ("webhook control", {**_body(), "config": {"webhook_config": {"endpoint": "http://exa\x00mple.com/"}}}),
    ("secret unicode", {**_body(), "config": {"webhook_config": {"endpoint": "", "secret": "s\u00e9cret"}}}),
    ("c1 in prompt", _body(style_prompt="rock \x9b")),
    ("unknown hostile key", {**_body(), "\ud800": 1, "input": {"style_prompt": "a", "\udc00\x00": 2}}),
    ("many keys", {**_body(), **{f"k{i}": i for i in range(20_000)}}),
    (
        "audio not audio",
        {
            "model": "Qubico/ace-step",
            "task_type": "audio2audio",
            "input": {"style_prompt": "a", "style_audio": base64.b64encode(b"hello, I am text" * 64).decode()},
        },
    ),
    (
        "audio null text",
        {"model": "Qubico/ace-step", "task_type": "extend", "input": {"style_prompt": "a", "audio": "bnVsbA=="}},
    ),
    (
        "audio bad data uri",
        {
            "model": "Qubico/ace-step",
            "task_type": "edit",
            "input": {"style_prompt": "a", "edit_style_prompt": "b", "audio": "data:audio/wav;base64,!!!"},
        },
    ),
    (
        "audio url surrogate",
        {
            "model": "Qubico/ace-step",
            "task_type": "extend",
            "input": {"style_prompt": "a", "audio": "https://example.com/\ud800.mp3"},
        },
    ),
]


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[RunningServer]:
    settings = make_settings(tmp_path / "d", database_url, max_body_bytes=4 * 1024 * 1024, max_input_audio_seconds=3)
    with serving(settings) as running:
        yield running


ACCEPTED = {"unknown hostile key", "many keys"}  # unknown fields are ignored and named in the task's logs


def _check(response: Any, what: str) -> None:
    assert response.status_code < 500, (what, response.status_code, response.text[:300])
    envelope = response.json()
    assert envelope["code"] == response.status_code, what
    assert (envelope["data"] is None) == (response.status_code != 200), what
    assert envelope["message"], what


def test_hostile_inputs_never_get_a_server_error(server: RunningServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    client = server.client
    for what, raw in MALFORMED:
        for path in (TASK, UPLOAD):
            response = client.post(path, content=raw, headers=JSON)
            _check(response, f"{what} on {path}")
            assert response.status_code in (400, 413), (what, response.status_code)
    for what, body in WRONG_TYPES:
        raw = json.dumps(body, ensure_ascii=True).encode()
        response = client.post(TASK, content=raw, headers=JSON)
        _check(response, what)
        if what in ACCEPTED:  # and the task it made reads back
            assert response.status_code == 200
            _check(client.get(f"{TASK}/{response.json()['data']['task_id']}"), what)
        else:
            assert response.status_code in (400, 413), (what, response.text[:300])
    for what, headers in [
        ("text/plain", {"content-type": "text/plain"}),
        ("form", {"content-type": "application/x-www-form-urlencoded"}),
        ("multipart", {"content-type": "multipart/form-data; boundary=x"}),
        ("latin-1", {"content-type": "application/json; charset=latin-1"}),
        ("long key", {**JSON, "Idempotency-Key": "k" * 300}),
        ("empty key", {**JSON, "Idempotency-Key": ""}),
    ]:
        response = client.post(TASK, content=json.dumps(_body()).encode(), headers=headers)
        _check(response, what)
        assert response.status_code == 400, (what, response.text)
    too_big = client.post(TASK, content=b" " * (5 * 1024 * 1024) + b"{}", headers=JSON)
    assert too_big.status_code == 413
    long_audio = base64.b64encode(tone_wav(5.0)).decode()
    for path, body in [
        (
            TASK,
            {
                "model": "Qubico/ace-step",
                "task_type": "audio2audio",
                "input": {"style_prompt": "a", "style_audio": long_audio},
            },
        ),
        (UPLOAD, {"file_name": "long.wav", "file_data": long_audio}),
        (UPLOAD, {"file_name": "text.wav", "file_data": base64.b64encode(b"not audio at all" * 100).decode()}),
    ]:
        response = client.post(path, json=body)
        _check(response, f"audio on {path}")
        assert (response.status_code == 400 and "s long" in response.text) or "audio" in response.text
    for path in [
        "/api/v1/task/%ED%A0%80",
        "/api/v1/task/" + "x" * 5000,
        "/api/v1/task/..%2F..%2Fetc",
        "/files/%00.mp3",
    ]:
        _check(client.get(path), path)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage()[:200] for r in errors]


def test_create_with_a_lone_surrogate_is_a_400_naming_the_field_and_stores_nothing(server: RunningServer) -> None:
    raw = _raw('{"model": "Qubico/ace-step", "task_type": "txt2audio", "input": {"style_prompt": "x\\ud800"}}')
    for _ in range(2):  # a retry with the same key is the same clear 400
        response = server.client.post(TASK, content=raw, headers={**JSON, "Idempotency-Key": "k1"})
        assert response.status_code == 400
        assert "`input.style_prompt`" in response.json()["message"] and "surrogate" in response.json()["message"]
    assert server.client.get("/account/active_tasks").json()["data"]["ace_step"]["pending_count"] == 0


def test_json_without_a_content_type_is_still_read(server: RunningServer) -> None:
    response = server.client.post(TASK, content=json.dumps(_body(duration=10)).encode())
    assert response.status_code == 200, response.text

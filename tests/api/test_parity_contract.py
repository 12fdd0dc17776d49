"""PiAPI parity, item by item, as a client sees it (spec §3.1, §4, §7, §8): usage units, the cost frozen
at create, /account/info, the echo, short durations, aliases, unknown fields, bad inline audio and the
history's model filter. The worker's side of the URL estimate is in ``tests/e2e/test_url_billing.py``."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from aceserve.domain.billing import URL_AUDIO_ESTIMATE_SECONDS
from aceserve.store import queue
from aceserve.store.db import Database
from tests.api.server import RunningServer
from tests.api.test_tasks_contract import assert_error, txt2audio
from tests.audio import tone_wav
from tests.store.helpers import complete


def create(client: Any, task_type: str, **fields: Any) -> Any:
    return client.post("/api/v1/task", json={"model": "Qubico/ace-step", "task_type": task_type, "input": fields})


# --- usage in 1e-6 USD ---------------------------------------------------------------------------------


def test_ten_seconds_of_audio_freeze_and_consume_5000(api_server: RunningServer) -> None:
    created = api_server.client.post("/api/v1/task", json=txt2audio(duration=10)).json()["data"]
    assert created["meta"]["usage"] == {"type": "llm", "frozen": 5000, "consume": 0}
    db = Database(api_server.settings.database_url)
    try:
        (lease,) = queue.claim(db, owner="parity", lease_seconds=60)
        complete(db, lease, seconds=10)
    finally:
        db.dispose()
    done = api_server.client.get(f"/api/v1/task/{created['task_id']}").json()["data"]
    assert done["status"] == "completed"
    assert done["meta"]["usage"] == {"type": "llm", "frozen": 0, "consume": 5000}


# --- the cost is frozen with the input's length known --------------------------------------------------


def test_inline_audio_freezes_its_own_length_not_the_maximum(api_server: RunningServer) -> None:
    audio = base64.b64encode(tone_wav(12)).decode()
    with api_server.as_key(api_server.new_key("dime", credits_usd=0.10)) as client:
        response = create(client, "audio2audio", style_audio=audio, style_prompt="jazz")
        assert response.status_code == 200, response.text
        task = response.json()["data"]
    assert task["meta"]["usage"]["frozen"] == 12 * 500
    assert task["input"]["duration"] == 12.0  # audio2audio echoes the input's length


def test_uploaded_and_own_output_files_freeze_their_recorded_length(api_server: RunningServer) -> None:
    upload = api_server.client.post(
        "/api/ephemeral_resource", json={"file_name": "take.wav", "file_data": base64.b64encode(tone_wav(7.5)).decode()}
    )
    url = upload.json()["data"]["url"]
    edit = create(api_server.client, "edit", audio=url, style_prompt="pop", edit_style_prompt="rock").json()["data"]
    extend = create(api_server.client, "extend", audio=url, style_prompt="pop", right_extend_duration=4).json()
    assert edit["meta"]["usage"]["frozen"] == 8 * 500
    assert extend["data"]["meta"]["usage"]["frozen"] == 12 * 500  # 7.5 s + 4 s, whole seconds up


def test_a_url_input_freezes_a_documented_estimate_and_says_so(api_server: RunningServer) -> None:
    response = create(
        api_server.client, "edit", audio="https://cdn.example.com/a.mp3", style_prompt="a", edit_style_prompt="b"
    )
    task = response.json()["data"]
    assert task["meta"]["usage"]["frozen"] == URL_AUDIO_ESTIMATE_SECONDS * 500
    (line,) = task["logs"]
    assert "`input.audio` is a URL, so its length is estimated at 30 s" in line


def test_a_402_says_what_was_estimated_and_why(api_server: RunningServer) -> None:
    audio = base64.b64encode(tone_wav(12)).decode()
    with api_server.as_key(api_server.new_key("penny", credits_usd=0.001)) as client:
        response = create(client, "audio2audio", style_audio=audio, style_prompt="jazz")
        balance = client.get("/account/info").json()["data"]["equivalent_in_usd"]
    assert_error(
        response,
        402,
        "Insufficient credit: this task needs $0.0060 for 12 s of audio at $0.0005/s",
        "as long as `input.style_audio`, which is 12.0 s long",
        "the account has $0.0010 available",
    )
    assert balance == 0.001
    assert not list((api_server.settings.files_dir / "inputs").glob("*"))  # the inline audio was not kept


# --- /account/info -------------------------------------------------------------------------------------


def test_account_info_has_the_names_piapis_cli_reads(api_server: RunningServer) -> None:
    info = api_server.client.get("/account/info").json()["data"]
    assert {"id", "name", "plan", "credit_pack_info", "equivalent_in_usd"} <= set(info)
    assert info["id"] == info["account_id"] and info["name"] == info["account_name"] == "tester"
    assert info["plan"] == "unlimited"
    assert set(info["credit_pack_info"]) == {"used_credits", "available_credits", "total_credits"}
    assert info["credit_pack_info"]["available_credits"] == 10**15  # $1e9 in 1e-6 USD


# --- the echo ------------------------------------------------------------------------------------------


def test_txt2audio_echoes_an_empty_style_audio(api_server: RunningServer) -> None:
    task = api_server.client.post("/api/v1/task", json=txt2audio()).json()["data"]
    assert task["input"]["style_audio"] == ""


def test_audio2audio_echoes_its_duration(api_server: RunningServer) -> None:
    given = create(
        api_server.client, "audio2audio", style_audio=base64.b64encode(tone_wav(3)).decode(), style_prompt="x"
    )
    chosen = create(
        api_server.client, "audio2audio", style_audio="https://a.example/x.mp3", style_prompt="x", duration=5
    )
    assert given.json()["data"]["input"]["duration"] == 3.0
    assert chosen.json()["data"]["input"]["duration"] == 5


# --- short durations and aliases -----------------------------------------------------------------------


@pytest.mark.parametrize("duration", [1, 5, 9.5])
def test_txt2audio_takes_durations_from_1_second(api_server: RunningServer, duration: float) -> None:
    response = api_server.client.post("/api/v1/task", json=txt2audio(duration=duration))
    assert response.status_code == 200, response.text
    assert response.json()["data"]["input"]["duration"] == duration


def test_infer_step_is_an_alias_of_infer_steps(api_server: RunningServer) -> None:
    task = api_server.client.post("/api/v1/task", json=txt2audio(infer_step=12)).json()["data"]
    assert task["input"]["infer_steps"] == 12 and "infer_step" not in task["input"]


# --- unknown fields ------------------------------------------------------------------------------------


def test_unknown_fields_are_accepted_and_named_in_the_logs_with_the_closest_field(api_server: RunningServer) -> None:
    body = {**txt2audio(durration=10), "output_format": "wav"}
    task = api_server.client.post("/api/v1/task", json=body).json()["data"]
    assert task["input"]["duration"] == 30 and "output_format" not in task["input"]
    assert task["meta"]["usage"]["frozen"] == 30 * 500
    assert task["logs"] == [
        "`input.durration` is not a field of txt2audio and was ignored; did you mean `input.duration`?",
        "`output_format` is not a field of the request's top level and was ignored; did you mean "
        "`input.output_format`?",
    ]
    fetched = api_server.client.get(f"/api/v1/task/{task['task_id']}").json()["data"]
    assert fetched["logs"] == task["logs"]


# --- bad inline audio ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("audio", "rule"),
    [
        ("null", "could not be decoded as audio"),
        ("", "must not be empty"),
        (base64.b64encode(b"definitely not audio, just text" * 10).decode(), "could not be decoded as audio"),
        ("data:audio/wav;base64," + base64.b64encode(b"RIFF" + bytes(40)).decode(), "could not be decoded as audio"),
    ],
    ids=["null", "empty", "text", "wav-header-only"],
)
def test_null_empty_or_non_audio_base64_is_a_400_naming_the_field(
    api_server: RunningServer, audio: str, rule: str
) -> None:
    response = create(api_server.client, "edit", audio=audio, style_prompt="a", edit_style_prompt="b")
    assert_error(response, 400, "`input.audio`", rule)
    assert api_server.client.get("/account/active_tasks").json()["data"]["ace_step"]["active_tasks"] == 0


# --- history -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["Qubico/ace-step", "ace-step", "ace_step"])
def test_history_model_filter_takes_each_name_of_the_model(api_server: RunningServer, model: str) -> None:
    api_server.client.post("/api/v1/task", json=txt2audio())
    page = api_server.client.get("/api/open/tasks/histories", params={"model": model}).json()["data"]
    assert page["total"] == 1

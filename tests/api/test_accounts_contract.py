"""Account endpoints, uploads, keys and limits over HTTP (contract §6–§8)."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from aceserve.store import accounts
from aceserve.store.db import Database
from tests.api.server import RunningServer
from tests.api.test_tasks_contract import assert_error, txt2audio


def test_account_info_shows_balance_and_limits(api_server: RunningServer) -> None:
    with api_server.as_key(api_server.new_key("paying", credits_usd=2.5, max_concurrent=3)) as client:
        client.post("/api/v1/task", json=txt2audio(duration=20))
        info = client.get("/account/info").json()["data"]
    assert info["account_name"] == info["name"] == "paying" and info["max_concurrent_task_count"] == 3
    assert info["account_id"] == info["id"] and info["plan"] == "credits"
    assert info["equivalent_in_usd"] == 2.5 - 0.01 and info["frozen_in_usd"] == 0.01
    assert info["credit_pack_info"] == {
        "used_credits": 0,
        "available_credits": 2_500_000 - 10_000,
        "total_credits": 2_500_000,
    }
    assert set(info) >= {
        "account_id",
        "account_name",
        "equivalent_in_usd",
        "frozen_in_usd",
        "max_concurrent_task_count",
        "plan",
        "created_at",
    }


def test_fifty_parallel_creates_against_credit_for_ten_accept_exactly_ten(api_server: RunningServer) -> None:
    key = api_server.new_key("tight", credits_usd=10 * 30 * 0.0005, max_concurrent=100)
    with api_server.as_key(key) as client, ThreadPoolExecutor(10) as pool:
        statuses = list(pool.map(lambda _: client.post("/api/v1/task", json=txt2audio()).status_code, range(50)))
        info = client.get("/account/info").json()["data"]
    assert statuses.count(200) == 10 and statuses.count(402) == 40
    assert info["equivalent_in_usd"] == 0 and info["frozen_in_usd"] == 0.15


def test_insufficient_credit_is_402_with_the_envelope(api_server: RunningServer) -> None:
    with api_server.as_key(api_server.new_key("poor", credits_usd=0.001)) as client:
        assert_error(client.post("/api/v1/task", json=txt2audio()), 402, "Insufficient credit")


def test_tasks_over_the_concurrency_limit_are_staged_and_counted(api_server: RunningServer) -> None:
    with api_server.as_key(api_server.new_key("limited", max_concurrent=2)) as client:
        statuses = [client.post("/api/v1/task", json=txt2audio()).json()["data"]["status"] for _ in range(3)]
        counts = client.get("/account/active_tasks").json()["data"]
    assert statuses == ["pending", "pending", "staged"]
    assert counts == {"ace_step": {"staged_count": 1, "pending_count": 2, "processing_count": 0, "active_tasks": 3}}


def test_revoked_key_is_refused_at_once(api_server: RunningServer) -> None:
    key = api_server.new_key("leaky")
    with api_server.as_key(key) as client:
        assert client.get("/account/info").status_code == 200
        db = Database(api_server.settings.database_url)
        with db.write() as session:
            accounts.revoke_key(session, key[:12])
        db.dispose()
        assert_error(client.get("/account/info"), 401, "revoked")


def test_history_pages_newest_first_and_shows_only_own_tasks(api_server: RunningServer) -> None:
    ids = [api_server.client.post("/api/v1/task", json=txt2audio()).json()["data"]["task_id"] for _ in range(5)]
    with api_server.as_key(api_server.new_key("neighbour")) as other:
        other.post("/api/v1/task", json=txt2audio())
    first = api_server.client.get("/api/open/tasks/histories", params={"page": 1, "page_size": 2}).json()["data"]
    second = api_server.client.get("/api/open/tasks/histories", params={"page": 3, "page_size": 2}).json()["data"]
    assert first["total"] == 5 and first["page"] == 1 and first["size"] == 2
    assert [row["task_id"] for row in first["data"]] == ids[::-1][:2]
    assert [row["task_id"] for row in second["data"]] == ids[:1]
    row = first["data"][0]
    assert set(row) == {"task_id", "task_model", "action", "status", "usage", "created_at", "updated_at", "detail"}
    assert row["task_model"] == "Qubico/ace-step" and row["action"] == "txt2audio" and row["status"] == "pending"
    assert row["detail"] == {"model": "Qubico/ace-step", "task_type": "txt2audio", "output": None}


def test_history_filters_by_model_and_time(api_server: RunningServer) -> None:
    created = api_server.client.post("/api/v1/task", json=txt2audio()).json()["data"]["meta"]["created_at"]

    def total(**params: Any) -> int:
        response = api_server.client.get("/api/open/tasks/histories", params=params)
        assert response.status_code == 200, response.text
        return int(response.json()["data"]["total"])

    assert total(model="Qubico/ace-step") == 1 and total(model="Qubico/other") == 0
    assert total(model="ace-step") == total(model="ace_step") == total(model="ACE-STEP") == 1
    assert total(start_time=created) == 1 and total(end_time="2000-01-01T00:00:00Z") == 0
    assert total(start_time="0", end_time="99999999999") == 1


def test_history_refuses_page_size_over_100(api_server: RunningServer) -> None:
    assert_error(api_server.client.get("/api/open/tasks/histories", params={"page_size": 101}), 400, "`page_size`")
    assert_error(api_server.client.get("/api/open/tasks/histories", params={"start_time": "soon"}), 400, "`start_time`")


def upload(server: RunningServer, name: str, data: str) -> httpx.Response:
    return server.client.post("/api/ephemeral_resource", json={"file_name": name, "file_data": data})


def test_upload_returns_a_url_that_serves_the_file(api_server: RunningServer, wav_bytes: bytes) -> None:
    response = upload(api_server, "take1.WAV", base64.b64encode(wav_bytes).decode())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["code"] == 200 and body["message"] == "success" and set(body["data"]) == {"url"}
    served = api_server.client.get(body["data"]["url"])
    assert served.content == wav_bytes and served.headers["content-type"] == "audio/wav"


def test_upload_with_a_data_uri_of_the_right_type_is_accepted(api_server: RunningServer, wav_bytes: bytes) -> None:
    uri = "data:audio/wav;base64," + base64.b64encode(wav_bytes).decode()
    assert upload(api_server, "a.wav", uri).status_code == 200


def test_upload_with_a_lying_extension_or_data_uri_type_is_400(api_server: RunningServer, wav_bytes: bytes) -> None:
    encoded = base64.b64encode(wav_bytes).decode()
    assert_error(upload(api_server, "song.mp3", encoded), 400, "`file_data`", ".mp3")
    assert_error(upload(api_server, "song.wav", "data:audio/mpeg;base64," + encoded), 400, "`file_data`")
    assert_error(upload(api_server, "song.exe", encoded), 400, "`file_name`")
    assert_error(upload(api_server, "x" * 129 + ".wav", encoded), 400, "`file_name`")
    assert_error(upload(api_server, "song.wav", "not base64!"), 400, "`file_data`")


def test_upload_over_10_mb_is_413(api_server: RunningServer) -> None:
    data = base64.b64encode(b"RIFF" + b"\0" * (10 * 1024 * 1024 + 10)).decode()
    assert_error(upload(api_server, "big.wav", data), 413)


def test_rate_limit_answers_429_with_retry_after(tmp_path: Any, database_url: str) -> None:
    from tests.api.server import make_settings, running_server

    with running_server(make_settings(tmp_path / "d", database_url, workers=0, rate_limit_per_minute=3)) as server:
        statuses = [server.client.get("/account/info") for _ in range(4)]
    assert [r.status_code for r in statuses] == [200, 200, 200, 429]
    assert int(statuses[-1].headers["retry-after"]) >= 1
    assert_error(statuses[-1], 429, "Rate limit")


def test_health_reports_api_and_database(api_server: RunningServer) -> None:
    body = api_server.anonymous().get("/health").json()
    assert body["code"] == 200
    assert body["data"]["api"] == {"status": "ok"} and body["data"]["database"]["status"] == "ok"
    # An API process without workers (they run elsewhere) is ready when its database answers.
    assert body["data"]["workers"] == [] and body["data"]["ready"] is True


def test_history_page_beyond_the_limit_is_400_not_an_overflow(api_server: RunningServer) -> None:
    huge = api_server.client.get("/api/open/tasks/histories", params={"page": 2**70, "page_size": 100})
    assert_error(huge, 400, "`page`")


def test_history_times_without_a_utc_form_are_400(api_server: RunningServer) -> None:
    for value in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-05:00"):
        response = api_server.client.get("/api/open/tasks/histories", params={"start_time": value})
        assert_error(response, 400, "`start_time`")


def test_unlimited_accounts_report_a_number_as_balance(api_server: RunningServer) -> None:
    info = api_server.client.get("/account/info").json()["data"]
    assert info["unlimited_credit"] is True and isinstance(info["equivalent_in_usd"], float)
    assert info["equivalent_in_usd"] >= 1e9

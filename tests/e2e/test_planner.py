"""The 5 Hz LM planner over HTTP on the tiny checkpoint with its tiny LM (what ``model make-tiny`` writes)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from aceserve.domain.music import KEY_SCALES, TIME_SIGNATURES, VOCAL_LANGUAGES
from aceserve.engine.tiny import make_tiny_checkpoint
from tests.api.server import RunningServer
from tests.e2e.conftest import serve_with_worker, wait_for
from tests.e2e.test_task_types import completed, create


@pytest.fixture(scope="session")
def tiny_model_with_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("tiny-model-lm")
    make_tiny_checkpoint(directory)
    return directory


@pytest.fixture
def planner_server(tmp_path: Path, database_url: str, tiny_model_with_lm: Path) -> Iterator[RunningServer]:
    with serve_with_worker(tmp_path / "planner", database_url, tiny_model_with_lm) as running:
        yield running


def test_a_song_from_a_description_is_planned_then_rendered(planner_server: RunningServer) -> None:
    task = completed(
        planner_server,
        create(planner_server, "txt2audio", style_prompt="indie", description="a song about leaving home", duration=3),
    )
    plan: dict[str, Any] = task["meta"]["plan"]
    assert plan["key_scale"] in KEY_SCALES and plan["time_signature"] in TIME_SIGNATURES
    assert plan["vocal_language"] in VOCAL_LANGUAGES and 30 <= plan["bpm"] <= 300
    assert plan["caption"].strip() and plan["lyrics"].strip()
    assert plan["audio_codes"] == 50 and task["input"]["description"] == "a song about leaving home"
    assert task["logs"] == []


def test_thinking_false_is_todays_audio_bit_for_bit(
    server: RunningServer, tmp_path: Path, tiny_model_with_lm: Path
) -> None:
    fields = {"style_prompt": "synthwave", "lyrics": "[verse] neon", "duration": 2, "seed": 9, "output_format": "wav"}
    today = completed(server, create(server, "txt2audio", **fields))
    outputs = [httpx.get(today["output"]["audio_url"]).content]
    own_database = f"sqlite:///{tmp_path / 'with-lm.sqlite3'}"  # two servers, one data each
    with serve_with_worker(tmp_path / "with-lm", own_database, tiny_model_with_lm) as planner_server:
        task = completed(planner_server, create(planner_server, "txt2audio", thinking=False, **fields))
        assert "plan" not in task["meta"] and "plan" not in today["meta"]
        outputs.append(httpx.get(task["output"]["audio_url"]).content)
    assert outputs[0] == outputs[1]


def test_bad_metadata_is_a_400_naming_the_field(planner_server: RunningServer) -> None:
    body = {"model": "Qubico/ace-step", "task_type": "txt2audio", "input": {"style_prompt": "x", "bpm": 400}}
    response = planner_server.client.post("/api/v1/task", json=body)
    assert response.status_code == 400
    assert "`input.bpm` must be between 30 and 300; got 400" in response.json()["message"]
    task = wait_for(planner_server.client, create(planner_server, "txt2audio", style_prompt="x", duration=1))
    assert task["status"] == "completed" and "plan" in task["meta"]  # absent `thinking`: an LM is loaded, it plans

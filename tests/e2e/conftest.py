"""End-to-end fixtures: a real server with an in-process worker on the tiny checkpoint."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from aceserve.cli.background import WorkerService, webhook_service
from aceserve.cli.running import engine_factory
from aceserve.engine.tiny import make_tiny_checkpoint
from tests.api.server import RunningServer, make_settings, running_server
from tests.audio import tone_wav

TERMINAL = ("completed", "failed")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("tiny-model")
    make_tiny_checkpoint(directory, lm=False)
    return directory


@pytest.fixture(scope="session")
def tiny_base_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny checkpoint as a base variant: it honours `infer_steps` (turbo always runs 8), so a task
    can be made slow on purpose."""
    directory = tmp_path_factory.mktemp("tiny-base-model")
    make_tiny_checkpoint(directory, variant="base")
    return directory


def serve_with_worker(data_dir: Path, database_url: str, model: Path, **overrides: Any) -> Any:
    settings = make_settings(
        data_dir, database_url, **{"model": str(model), "device": "cpu", "allow_private_fetch": False, **overrides}
    )
    worker = WorkerService(engine_factory(settings, str(model), "cpu"), "cpu")
    return running_server(settings, background=[worker, webhook_service()])


@pytest.fixture
def server(tmp_path: Path, database_url: str, tiny_model: Path) -> Iterator[RunningServer]:
    with serve_with_worker(tmp_path / "data", database_url, tiny_model) as running:
        yield running


def wait_for(
    client: httpx.Client, task_id: str, statuses: tuple[str, ...] = TERMINAL, timeout: float = 120
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        task: dict[str, Any] = client.get(f"/api/v1/task/{task_id}").json()["data"]
        if task["status"] in statuses:
            return task
        if time.monotonic() > deadline:
            raise AssertionError(f"task {task_id} still {task['status']} after {timeout} s: {task}")
        time.sleep(0.05)


@pytest.fixture(scope="session")
def ten_second_wav() -> bytes:
    """Ten seconds of a stereo tone as WAV: input audio for audio tasks."""
    return tone_wav(10.0, right=0.5)

"""End-to-end fixtures: a real server with an in-process worker on the tiny checkpoint."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from aceserve.cli.background import WorkerService, webhook_service
from aceserve.cli.running import engine_factory
from aceserve.engine.tiny import make_tiny_checkpoint
from aceserve.engine.types import Engine
from aceserve.settings import Settings
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


class EnginePool:
    """Engines ``aceserve serve`` would load (``engine_factory``: loaded and warmed up), kept for the next
    server with the same engine settings once a server's worker has stopped: a test's worker starts on a
    warm engine, as a worker restarted on the same machine would, and one engine never serves two live
    workers (a second server at once gets an engine of its own)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._free: dict[tuple[Any, ...], list[Engine]] = {}

    @staticmethod
    def key(settings: Settings, model: str) -> tuple[Any, ...]:
        return (
            model,
            settings.max_batch_size,
            tuple(sorted((name, repr(spec)) for name, spec in settings.adapters.items())),
            settings.lm,
            settings.lm_device,
            settings.cpu_offload,
            settings.compile,
        )

    @contextmanager
    def worker(self, settings: Settings, model: str) -> Iterator[WorkerService]:
        key, load = self.key(settings, model), engine_factory(settings, model, "cpu")
        taken: list[Engine] = []

        def take() -> Engine:
            with self._lock:
                free = self._free.get(key, [])
                engine = free.pop() if free else None
            taken.append(engine if engine is not None else load())
            return taken[-1]

        service = WorkerService(take, "cpu")
        yield service
        if service._thread is not None and service._thread.is_alive():
            return  # still running after the server's stop: its engine is not handed on
        with self._lock:
            self._free.setdefault(key, []).extend(taken)


ENGINES = EnginePool()


@contextmanager
def serve_with_worker(data_dir: Path, database_url: str, model: Path, **overrides: Any) -> Iterator[RunningServer]:
    settings = make_settings(
        data_dir, database_url, **{"model": str(model), "device": "cpu", "allow_private_fetch": False, **overrides}
    )
    with (
        ENGINES.worker(settings, str(model)) as worker,
        running_server(settings, background=[worker, webhook_service()]) as running,
    ):
        yield running


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

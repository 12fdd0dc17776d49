"""Fault-suite fixtures: the tiny checkpoint loaded once, and a worker's batch runner on a real database."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aceserve.engine.engine import AceStepEngine
from aceserve.engine.loader import load_engine
from aceserve.engine.tiny import make_tiny_checkpoint
from aceserve.engine.types import Engine
from aceserve.fetch import SafeFetcher
from aceserve.settings import Settings
from aceserve.storage import open_storage
from aceserve.store.db import Database
from aceserve.worker.execute import BatchRunner
from aceserve.worker.inputs import InputResolver
from tests.faults.processes import Zygote


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("tiny-model")
    make_tiny_checkpoint(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_engine(tiny_model: Path) -> AceStepEngine:
    return load_engine(str(tiny_model), device="cpu", max_batch_size=4, warmup=False)


@pytest.fixture(scope="session")
def zygote(tiny_model: Path) -> Iterator[Zygote]:
    """Forks worker processes with the tiny model loaded (attempts are plenty: kills use them up)."""
    running = Zygote(tiny_model, ACESERVE_MAX_ATTEMPTS="50", ACESERVE_MAX_BATCH_SIZE="2")
    yield running
    running.close()


RunnerFactory = Callable[[Engine], BatchRunner]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Soak variants run only when asked for (``-m soak``)."""
    if "soak" in (config.option.markexpr or ""):
        return
    kept = [item for item in items if item.get_closest_marker("soak") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept


@pytest.fixture
def make_runner(tmp_path: Path, database: Database) -> Iterator[RunnerFactory]:
    """A worker's batch runner on ``database`` and local files, around the engine given."""
    settings = Settings(
        data_dir=tmp_path, database_url=database.url, heartbeat_seconds=0.5, isolate_decoding=False, max_attempts=3
    )
    storage = open_storage("", files_dir=settings.files_dir, s3_endpoint_url="")
    fetcher = SafeFetcher(max_bytes=1 << 20, timeout_seconds=5, allow_private=False)

    def make(engine: Engine) -> BatchRunner:
        return BatchRunner(settings, database, storage, engine, InputResolver(settings, database, storage, fetcher))

    yield make

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


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("tiny-model")
    make_tiny_checkpoint(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_engine(tiny_model: Path) -> AceStepEngine:
    return load_engine(str(tiny_model), device="cpu", max_batch_size=4, warmup=False)


RunnerFactory = Callable[[Engine], BatchRunner]


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

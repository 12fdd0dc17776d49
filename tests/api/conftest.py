from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.server import RunningServer, make_settings, running_server, serving
from tests.audio import tone_wav


@pytest.fixture
def api_server(tmp_path: Path, database_url: str) -> Iterator[RunningServer]:
    """The API without workers, in process: tasks stay where the API puts them."""
    with serving(make_settings(tmp_path / "data", database_url, workers=0)) as server:
        yield server


@pytest.fixture
def live_server(tmp_path: Path, database_url: str) -> Iterator[RunningServer]:
    """The API without workers on a loopback socket, for what only a real connection shows."""
    with running_server(make_settings(tmp_path / "data", database_url, workers=0)) as server:
        yield server


@pytest.fixture(scope="session")
def wav_bytes() -> bytes:
    """One second of a 440 Hz stereo tone as a 16-bit WAV file."""
    return tone_wav(1.0, freq=440.0)

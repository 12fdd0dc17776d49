from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.server import RunningServer, make_settings, running_server, serving


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
    import io

    import numpy as np
    import soundfile

    t = np.arange(48_000) / 48_000
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    buffer = io.BytesIO()
    soundfile.write(buffer, np.stack([tone, tone], axis=1), 48_000, format="WAV", subtype="PCM_16")
    return buffer.getvalue()

"""IsolatedProber: the real helper processes measure audio exactly as in-process, and a crash or a hang
fails only the file that caused it.

The ``misbehave`` target runs in the helper process (the test seam): it crashes or hangs when the
data ends with a marker, and otherwise probes for real.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest

from aceserve.domain.errors import TaskInputError
from aceserve.media import probe_seconds
from aceserve.media.probing import InProcessProber, IsolatedProber
from tests.media.media_samples import sine, write_pyav, write_soundfile

FIELD = "input.audio"
TIMEOUT_SECONDS = 1.0
SEGFAULT = b"SEGFAULT-THE-PROBE"
HANG = b"HANG-THE-PROBE"


def misbehave(data: bytes, field: str, max_seconds: float) -> float:
    """Runs in a helper process: crashes or hangs when ``data`` says so, else probes."""
    if data.endswith(SEGFAULT):
        os.kill(os.getpid(), signal.SIGSEGV)
    if data.endswith(HANG):
        time.sleep(60)
    return probe_seconds(data, field=field, max_seconds=max_seconds)


@pytest.fixture(scope="module")
def prober() -> Iterator[IsolatedProber]:
    running = IsolatedProber(timeout_seconds=30)
    yield running
    running.close()


@pytest.fixture(scope="module")
def misbehaving() -> Iterator[IsolatedProber]:
    running = IsolatedProber(processes=2, timeout_seconds=TIMEOUT_SECONDS, _target=misbehave)
    yield running
    running.close()


@pytest.fixture(scope="module")
def wav() -> bytes:
    return write_soundfile(sine(1.5, 44100), 44100, "WAV")


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(write_soundfile(sine(1.5, 44100), 44100, "WAV"), id="wav"),
        pytest.param(write_pyav(sine(2.0, 44100), 44100, "mp3", "libmp3lame"), id="mp3"),
    ],
)
def test_measures_exactly_as_in_process(prober: IsolatedProber, data: bytes) -> None:
    expected = probe_seconds(data, field=FIELD, max_seconds=600.0)
    assert prober.probe(data, field=FIELD, max_seconds=600.0) == expected
    assert InProcessProber().probe(data, field=FIELD, max_seconds=600.0) == expected


@pytest.mark.parametrize(
    ("data", "max_seconds"),
    [(b"not audio at all", 600.0), (write_soundfile(sine(3.0, 44100), 44100, "WAV"), 1.0)],
    ids=["not-audio", "too-long"],
)
def test_bad_audio_fails_with_the_in_process_message(prober: IsolatedProber, data: bytes, max_seconds: float) -> None:
    with pytest.raises(TaskInputError) as in_process:
        probe_seconds(data, field=FIELD, max_seconds=max_seconds)
    with pytest.raises(TaskInputError) as isolated:
        prober.probe(data, field=FIELD, max_seconds=max_seconds)
    assert str(isolated.value) == str(in_process.value)


def test_a_crash_fails_only_that_file_and_the_next_probe_works(misbehaving: IsolatedProber, wav: bytes) -> None:
    with pytest.raises(TaskInputError) as crashed:
        misbehaving.probe(wav + SEGFAULT, field=FIELD, max_seconds=600.0)
    assert str(crashed.value) == f"`{FIELD}` could not be decoded: the audio decoder crashed on this file"
    for _ in range(3):  # whichever helper takes it
        assert misbehaving.probe(wav, field=FIELD, max_seconds=600.0) == pytest.approx(1.5, abs=0.01)


def test_a_probe_over_the_time_limit_is_killed_and_the_next_probe_works(
    misbehaving: IsolatedProber, wav: bytes
) -> None:
    started = time.monotonic()
    with pytest.raises(TaskInputError, match=r"^`input\.audio` could not be decoded: reading it took too long"):
        misbehaving.probe(wav + HANG, field=FIELD, max_seconds=600.0)
    assert time.monotonic() - started < TIMEOUT_SECONDS + 10
    assert misbehaving.probe(wav, field=FIELD, max_seconds=600.0) == pytest.approx(1.5, abs=0.01)


def test_a_closed_prober_refuses_to_probe(wav: bytes) -> None:
    closed = IsolatedProber(processes=1, timeout_seconds=30)
    closed.close()
    with pytest.raises(RuntimeError, match="closed"):
        closed.probe(wav, field=FIELD, max_seconds=600.0)

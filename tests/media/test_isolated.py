"""IsolatedDecoder: the real helper process decodes exactly as in-process, and its death fails one call.

Starting a helper costs a few hundred milliseconds, so the tests share two decoders per module: a
plain one, and one whose child runs ``misbehave`` (the ``_target`` test seam), which crashes or
hangs the real child process on request.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from aceserve.domain.errors import TaskInputError
from aceserve.media import SAMPLE_RATE, OutputFormat, decode_audio, encode_audio, helper, isolated
from aceserve.media.formats import Audio
from aceserve.media.isolated import EncoderFailed, IsolatedDecoder, IsolatedEncoder
from tests.media.media_samples import sine, write_pyav, write_soundfile

ROOT = Path(__file__).resolve().parents[2]

FIELD = "input.audio"
MISBEHAVING_TIMEOUT_SECONDS = 1.0


def misbehave(data: bytes, max_seconds: float, field: str) -> Audio:
    """Runs in the helper process: crashes, exits or hangs when ``data`` says so, else decodes."""
    if data == b"segfault":
        os.kill(os.getpid(), signal.SIGSEGV)
    if data == b"exit":
        os._exit(3)
    if data == b"hang":
        time.sleep(60)
    if data == b"pid":
        raise TaskInputError(str(os.getpid()))
    if data == b"modules":
        heavy = sorted(name for name in sys.modules if name == "torch" or name.startswith("aceserve.engine"))
        raise TaskInputError(f"modules: {heavy}")
    return decode_audio(data, max_seconds=max_seconds, field=field)


@pytest.fixture(scope="module")
def decoder() -> Iterator[IsolatedDecoder]:
    with IsolatedDecoder() as running:
        yield running


@pytest.fixture(scope="module")
def misbehaving() -> Iterator[IsolatedDecoder]:
    with IsolatedDecoder(timeout_seconds=MISBEHAVING_TIMEOUT_SECONDS, _target=misbehave) as running:
        yield running


@pytest.fixture(scope="module")
def wav() -> bytes:
    return write_soundfile(sine(1.0, 44100), 44100, "WAV")


def decode_in_process(data: bytes, max_seconds: float = 600.0) -> Audio:
    return decode_audio(data, max_seconds=max_seconds, field=FIELD)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(write_soundfile(sine(1.0, 44100), 44100, "WAV"), id="wav-44k1"),
        pytest.param(write_pyav(sine(2.0, 44100), 44100, "mp3", "libmp3lame"), id="mp3"),
    ],
)
def test_decodes_exactly_as_in_process(decoder: IsolatedDecoder, data: bytes) -> None:
    audio = decoder.decode(data, max_seconds=600.0, field=FIELD)
    expected = decode_in_process(data)
    assert audio.dtype == np.float32
    assert audio.flags.c_contiguous
    assert audio.flags.writeable
    np.testing.assert_array_equal(audio, expected)


def test_long_audio_comes_back_exactly_through_shared_memory(decoder: IsolatedDecoder) -> None:
    data = write_soundfile(sine(60.0, SAMPLE_RATE), SAMPLE_RATE, "WAV", "FLOAT")
    expected = decode_in_process(data)
    assert expected.nbytes >= helper.SHARED_MEMORY_MIN_BYTES
    audio = decoder.decode(data, max_seconds=600.0, field=FIELD)
    assert audio.flags.writeable
    np.testing.assert_array_equal(audio, expected)


def test_shared_memory_block_is_unlinked_once_taken() -> None:
    audio = np.ones((2, helper.SHARED_MEMORY_MIN_BYTES // 8), dtype=np.float32)
    shared = helper.share(audio)
    assert isinstance(shared, helper.Shared)
    np.testing.assert_array_equal(helper.take(shared), audio)
    assert not Path("/dev/shm", shared.name.lstrip("/")).exists()


def test_large_audio_goes_through_the_pipe_when_shared_memory_lacks_room(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(helper, "shared_memory_room", lambda: 0)
    audio = np.ones((2, helper.SHARED_MEMORY_MIN_BYTES // 8), dtype=np.float32)
    assert helper.share(audio) is audio


@pytest.mark.parametrize(
    ("data", "max_seconds"),
    [
        pytest.param(b"", 600.0, id="empty"),
        pytest.param(b"\x00\x01garbage" * 100, 600.0, id="garbage"),
        pytest.param(b"just some text, not audio\n" * 50, 600.0, id="text"),
        pytest.param(write_soundfile(sine(2.0, SAMPLE_RATE), SAMPLE_RATE, "WAV"), 1.5, id="too-long"),
    ],
)
def test_bad_audio_fails_with_the_in_process_message(decoder: IsolatedDecoder, data: bytes, max_seconds: float) -> None:
    with pytest.raises(TaskInputError) as in_process:
        decode_in_process(data, max_seconds)
    with pytest.raises(TaskInputError) as isolated_error:
        decoder.decode(data, max_seconds=max_seconds, field=FIELD)
    assert str(isolated_error.value) == str(in_process.value)


@pytest.mark.parametrize("how", [b"segfault", b"exit"])
def test_a_crash_fails_only_that_file_and_the_next_decode_works(
    misbehaving: IsolatedDecoder, wav: bytes, how: bytes
) -> None:
    message = f"`{FIELD}` could not be decoded: the audio decoder crashed on this file"
    with pytest.raises(TaskInputError) as crashed:
        misbehaving.decode(how, max_seconds=600.0, field=FIELD)
    assert str(crashed.value) == message
    np.testing.assert_array_equal(misbehaving.decode(wav, max_seconds=600.0, field=FIELD), decode_in_process(wav))


def test_a_decode_over_the_time_limit_is_killed_and_the_next_decode_works(
    misbehaving: IsolatedDecoder, wav: bytes
) -> None:
    started = time.monotonic()
    with pytest.raises(TaskInputError, match=r"^`input\.audio` could not be decoded: decoding took too long"):
        misbehaving.decode(b"hang", max_seconds=600.0, field=FIELD)
    assert time.monotonic() - started < MISBEHAVING_TIMEOUT_SECONDS + 10
    np.testing.assert_array_equal(misbehaving.decode(wav, max_seconds=600.0, field=FIELD), decode_in_process(wav))


def test_the_helper_never_imports_torch_or_the_engine(misbehaving: IsolatedDecoder) -> None:
    with pytest.raises(TaskInputError, match=r"^modules: \[\]$"):
        misbehaving.decode(b"modules", max_seconds=600.0, field=FIELD)


def test_calls_from_several_threads_each_get_their_own_audio(decoder: IsolatedDecoder) -> None:
    files = [write_soundfile(sine(0.5, SAMPLE_RATE, freq=200.0 * (i + 1)), SAMPLE_RATE, "WAV") for i in range(4)]
    results: dict[int, Audio] = {}

    def decode(i: int) -> None:
        results[i] = decoder.decode(files[i], max_seconds=600.0, field=FIELD)

    threads = [threading.Thread(target=decode, args=(i,)) for i in range(len(files))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for i, data in enumerate(files):
        np.testing.assert_array_equal(results[i], decode_in_process(data))


def test_a_closed_decoder_refuses_work(wav: bytes) -> None:
    closed = IsolatedDecoder()
    closed.close()
    with pytest.raises(RuntimeError, match="closed"):
        closed.decode(wav, max_seconds=600.0, field=FIELD)


WORKER_KILLED_AFTER_A_DECODE = """
import os, signal
from aceserve.media.isolated import EncoderFailed, IsolatedDecoder, IsolatedEncoder
from tests.media.test_isolated import misbehave
try:
    IsolatedDecoder(_target=misbehave).decode(b"pid", max_seconds=1.0, field="audio")
except Exception as exc:
    print(exc, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_the_helper_exits_when_the_worker_process_is_killed(tmp_path: Path) -> None:
    with open(tmp_path / "pid", "w") as out:  # not a pipe: a lingering helper would hold it open
        subprocess.run([sys.executable, "-c", WORKER_KILLED_AFTER_A_DECODE], cwd=ROOT, stdout=out, timeout=60)
    helper = int((tmp_path / "pid").read_text())
    deadline = time.monotonic() + 10
    while running(helper):
        if time.monotonic() > deadline:
            os.kill(helper, signal.SIGKILL)
            raise AssertionError(f"the decoder helper {helper} outlived its killed worker")
        time.sleep(0.05)


def running(pid: int) -> bool:
    """Whether ``pid`` runs (an exited child nobody has reaped yet is a zombie: state Z)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(") ", 1)[1][0] != "Z"


# --- IsolatedEncoder ---------------------------------------------------------------------------------


def misbehave_encoding(audio: Audio, sample_rate: int, fmt: OutputFormat) -> bytes:
    """Runs in the encoder's helper process: crashes on audio that is all 0.25, else encodes."""
    if audio.size and bool(np.all(audio == 0.25)):
        os.kill(os.getpid(), signal.SIGSEGV)
    if audio.size and bool(np.all(audio == 0.5)):
        time.sleep(60)
    return encode_audio(audio, sample_rate=sample_rate, fmt=fmt)


@pytest.fixture(scope="module")
def encoder() -> Iterator[IsolatedEncoder]:
    with IsolatedEncoder() as running:
        yield running


def noise(seconds: float) -> Audio:
    return (np.random.default_rng(1).standard_normal((2, int(seconds * SAMPLE_RATE))) * 0.1).astype(np.float32)


@pytest.mark.parametrize("fmt", list(OutputFormat))
def test_encodes_exactly_as_in_process(encoder: IsolatedEncoder, fmt: OutputFormat) -> None:
    audio = noise(1.0)
    assert encoder.encode(audio, sample_rate=SAMPLE_RATE, fmt=fmt) == encode_audio(audio, fmt=fmt)


def test_long_audio_goes_to_the_encoder_through_shared_memory_and_the_block_is_freed(
    encoder: IsolatedEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    audio = noise(60.0)
    assert audio.nbytes >= helper.SHARED_MEMORY_MIN_BYTES
    blocks: list[str] = []  # this encode's own blocks: other processes (xdist workers) use /dev/shm too

    def share(audio: Audio) -> Audio | helper.Shared:
        shared = helper.share(audio)
        if isinstance(shared, helper.Shared):
            blocks.append(shared.name.lstrip("/"))
        return shared

    monkeypatch.setattr(isolated, "share", share)
    assert encoder.encode(audio, sample_rate=SAMPLE_RATE, fmt=OutputFormat.WAV) == encode_audio(
        audio, fmt=OutputFormat.WAV
    )
    assert len(blocks) == 1
    assert not set(os.listdir("/dev/shm")) & set(blocks)


def test_bad_audio_fails_with_the_in_process_error(encoder: IsolatedEncoder) -> None:
    with pytest.raises(ValueError, match="1 or 2 channels"):
        encoder.encode(np.zeros((3, 10), dtype=np.float32), sample_rate=SAMPLE_RATE, fmt=OutputFormat.MP3)


def test_an_encoder_crash_fails_that_output_only_and_the_next_encode_works() -> None:
    good = noise(0.5)
    with IsolatedEncoder(timeout_seconds=MISBEHAVING_TIMEOUT_SECONDS, _target=misbehave_encoding) as misbehaving:
        misbehaving.encode(good, sample_rate=SAMPLE_RATE, fmt=OutputFormat.WAV)
        first_pid = misbehaving.pid
        with pytest.raises(EncoderFailed, match="crashed"):
            misbehaving.encode(np.full((2, 1000), 0.25, np.float32), sample_rate=SAMPLE_RATE, fmt=OutputFormat.MP3)
        assert misbehaving.encode(good, sample_rate=SAMPLE_RATE, fmt=OutputFormat.MP3) == encode_audio(good)
        assert misbehaving.pid != first_pid  # a new helper took over
        with pytest.raises(EncoderFailed, match="too long"):
            misbehaving.encode(np.full((2, 1000), 0.5, np.float32), sample_rate=SAMPLE_RATE, fmt=OutputFormat.MP3)
        assert misbehaving.encode(good, sample_rate=SAMPLE_RATE, fmt=OutputFormat.FLAC) == encode_audio(
            good, fmt=OutputFormat.FLAC
        )

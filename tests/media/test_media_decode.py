from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aceserve.domain.errors import TaskInputError
from aceserve.media import SAMPLE_RATE, decode_audio
from tests.media.media_samples import sine, write_pyav, write_soundfile

# Lossy codecs add encoder delay and padding (AAC: 2048 samples at its own rate); allow 0.1 s.
LOSSY_SLACK = SAMPLE_RATE // 10


def test_wav_at_48k_decodes_sample_exact_and_stereo() -> None:
    source = sine(1.5, SAMPLE_RATE)
    audio = decode_audio(write_soundfile(source, SAMPLE_RATE, "WAV", "FLOAT"))
    assert audio.dtype == np.float32
    assert audio.shape == (2, source.shape[1])
    assert audio.flags.c_contiguous
    np.testing.assert_allclose(audio, source, atol=1e-6)


@pytest.mark.parametrize(
    ("container", "codec", "rate"),
    [
        ("mp3", "libmp3lame", 44100),
        ("ogg", "libopus", 48000),
        ("ipod", "aac", 44100),  # .m4a
        ("adts", "aac", 22050),
        ("flac", "flac", 96000),
        ("matroska", "libopus", 48000),
        ("aiff", "pcm_s16be", 32000),
    ],
)
def test_common_formats_decode_to_48k_stereo_with_their_duration(container: str, codec: str, rate: int) -> None:
    data = write_pyav(sine(2.0, rate), rate, container, codec)
    audio = decode_audio(data)
    assert audio.shape[0] == 2
    assert abs(audio.shape[1] - 2 * SAMPLE_RATE) <= LOSSY_SLACK
    # The sine survives: louder left than right, as written, and not silence.
    middle = audio[:, SAMPLE_RATE // 2 : SAMPLE_RATE]
    assert 0.3 < np.abs(middle[0]).max() < 0.6
    assert np.abs(middle[1]).max() == pytest.approx(np.abs(middle[0]).max() / 2, rel=0.1)


def test_44k1_input_is_resampled_to_48k_with_the_same_duration() -> None:
    source = sine(3.0, 44100, freq=1000.0)
    audio = decode_audio(write_soundfile(source, 44100, "WAV", "FLOAT"))
    assert abs(audio.shape[1] - 3 * SAMPLE_RATE) <= 2
    # Still a 1 kHz tone: its spectrum peaks at bin 1000 Hz.
    spectrum = np.abs(np.fft.rfft(audio[0, :SAMPLE_RATE]))
    assert np.argmax(spectrum) == 1000


def test_mono_is_duplicated_to_both_channels_at_full_level() -> None:
    source = sine(1.0, SAMPLE_RATE, channels=1)
    audio = decode_audio(write_soundfile(source, SAMPLE_RATE, "WAV", "FLOAT"))
    assert audio.shape == (2, SAMPLE_RATE)
    np.testing.assert_allclose(audio[0], source[0], atol=1e-6)
    np.testing.assert_array_equal(audio[0], audio[1])


def test_known_surround_layout_is_downmixed_with_ffmpegs_matrix() -> None:
    # 5.1 from an encoder that records the layout: FL, FR, FC, LFE, BL, BR.
    levels = np.array([0.1, 0.2, 0.3, 0.4, 0.05, 0.06], dtype=np.float32)[:, None]
    data = write_soundfile(np.repeat(levels, 4800, axis=1), SAMPLE_RATE, "FLAC", "PCM_24")
    audio = decode_audio(data)
    left, right = audio[:, 2400]
    centre = 0.3 * np.sqrt(0.5)
    assert left == pytest.approx(0.1 + centre + 0.05 * np.sqrt(0.5), abs=1e-3)
    assert right == pytest.approx(0.2 + centre + 0.06 * np.sqrt(0.5), abs=1e-3)


def test_channels_of_unknown_order_are_averaged_not_dropped() -> None:
    # Three channels in a plain WAV carry no channel mask: FFmpeg cannot tell which is left.
    levels = np.array([0.1, 0.2, 0.6], dtype=np.float32)[:, None]
    audio = decode_audio(write_soundfile(np.repeat(levels, 4800, axis=1), SAMPLE_RATE, "WAV", "FLOAT"))
    np.testing.assert_allclose(audio[:, 100], [0.3, 0.3], atol=1e-6)


def test_decodes_from_a_path(tmp_path: Path) -> None:
    path = tmp_path / "in.flac"
    path.write_bytes(write_soundfile(sine(0.5, SAMPLE_RATE), SAMPLE_RATE, "FLAC"))
    assert decode_audio(path).shape == (2, SAMPLE_RATE // 2)


def test_missing_path_is_our_error_not_the_users(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        decode_audio(tmp_path / "absent.wav")


def test_garbage_bytes_are_refused_with_a_sentence() -> None:
    garbage = np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes()
    with pytest.raises(TaskInputError, match=r"^`style_audio` could not be decoded as audio \(.+\)$"):
        decode_audio(garbage, field="style_audio")


def test_text_is_not_audio() -> None:
    with pytest.raises(TaskInputError, match="could not be decoded as audio"):
        decode_audio(b"<html><body>Not found</body></html>" * 20)


def test_empty_file_is_refused() -> None:
    with pytest.raises(TaskInputError, match=r"^`audio` is empty \(0 bytes\)$"):
        decode_audio(b"")


def test_file_without_samples_is_refused() -> None:
    header_only = write_soundfile(np.zeros((2, 0), dtype=np.float32), SAMPLE_RATE, "WAV")
    with pytest.raises(TaskInputError, match=r"^`audio` contains no audio samples$"):
        decode_audio(header_only)


def test_too_long_is_refused_with_the_declared_length() -> None:
    data = write_soundfile(np.zeros((2, 731 * 8000 + 1600), dtype=np.float32), 8000, "WAV")
    with pytest.raises(TaskInputError, match=r"^`audio` is 731\.2 s long; the limit is 600 s$"):
        decode_audio(data)


def test_too_long_is_found_by_decoding_when_the_header_does_not_say() -> None:
    # A FLAC stream whose STREAMINFO leaves the total sample count at 0 ("unknown"), as a streaming
    # encoder writes it: nothing tells the length before decoding.
    data = bytearray(write_soundfile(sine(3.0, 8000), 8000, "FLAC"))
    data[21] &= 0xF0
    data[22:26] = bytes(4)
    with pytest.raises(TaskInputError, match=r"^`audio` is longer than 1\.5 s; the limit is 1\.5 s$"):
        decode_audio(data, max_seconds=1.5)


def test_encoder_padding_just_over_the_limit_is_trimmed_not_refused() -> None:
    data = write_pyav(sine(2.0, 44100), 44100, "mp3", "libmp3lame")
    audio = decode_audio(data, max_seconds=1.98)
    assert audio.shape == (2, round(1.98 * SAMPLE_RATE))


def test_ffconcat_script_cannot_read_server_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An 'audio' file that is an ffconcat script would make FFmpeg read files beside the server."""
    secret = tmp_path / "secret.wav"
    secret.write_bytes(write_soundfile(sine(0.5, SAMPLE_RATE), SAMPLE_RATE, "WAV"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TaskInputError, match="could not be decoded as audio"):
        decode_audio(b"ffconcat version 1.0\nfile secret.wav\n")


def test_hls_playlist_cannot_make_ffmpeg_open_urls() -> None:
    playlist = b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nhttp://127.0.0.1:9/a.ts\n#EXT-X-ENDLIST\n"
    with pytest.raises(TaskInputError, match="could not be decoded as audio"):
        decode_audio(playlist)


def test_non_finite_samples_become_silence() -> None:
    source = sine(0.1, SAMPLE_RATE)
    source[0, 10] = np.nan
    source[1, 20] = np.inf
    audio = decode_audio(write_soundfile(source, SAMPLE_RATE, "WAV", "FLOAT"))
    assert np.isfinite(audio).all()
    assert audio[0, 10] == 0.0


@pytest.mark.parametrize("channels", [8, 12, 53])
def test_many_channels_of_unknown_order_do_not_crash_the_process(channels: int) -> None:
    """PyAV 18 segfaults on planar frames of 8+ channels; damaged AAC can claim 53 channels."""
    levels = np.linspace(0.0, 0.8, channels, dtype=np.float32)[:, None]
    audio = decode_audio(write_soundfile(np.repeat(levels, 48_000, axis=1), SAMPLE_RATE, "WAV", "FLOAT"))
    assert audio.shape == (2, 48_000)
    np.testing.assert_allclose(audio[:, 1000], [0.4, 0.4], atol=1e-6)


def test_ordered_7_1_is_downmixed_by_ffmpeg() -> None:
    levels = np.full((8, 1), 0.1, dtype=np.float32)
    audio = decode_audio(write_soundfile(np.repeat(levels, 48_000, axis=1), SAMPLE_RATE, "FLAC", "PCM_24"))
    assert audio.shape == (2, 48_000)
    assert audio[0, 1000] == pytest.approx(audio[1, 1000])
    assert audio[0, 1000] > 0.1

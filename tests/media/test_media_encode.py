from __future__ import annotations

import io

import av
import numpy as np
import pytest
import soundfile

from aceserve.media import CONTENT_TYPES, SAMPLE_RATE, decode_audio, encode_audio, sniff_audio_type
from aceserve.media.mp3_info import add_info_tag
from tests.media.media_samples import sine


@pytest.mark.parametrize("fmt", ["wav", "flac"])
def test_lossless_round_trip_keeps_every_sample(fmt: str) -> None:
    source = sine(1.25, SAMPLE_RATE)
    data = encode_audio(source, fmt=fmt)  # type: ignore[arg-type]
    assert sniff_audio_type(data) == fmt
    audio = decode_audio(data)
    assert audio.shape == source.shape
    np.testing.assert_allclose(audio, source, atol=1 / 32767)


@pytest.mark.parametrize("fmt", ["wav", "flac"])
def test_lossless_files_are_16_bit_at_the_given_rate(fmt: str) -> None:
    info = soundfile.info(io.BytesIO(encode_audio(sine(0.5, 44100), sample_rate=44100, fmt=fmt)))  # type: ignore[arg-type]
    assert (info.samplerate, info.channels, info.subtype, info.frames) == (44100, 2, "PCM_16", 22050)


@pytest.mark.parametrize("rate", [48000, 44100, 24000])
def test_mp3_round_trip_is_sample_exact_thanks_to_the_info_tag(rate: int) -> None:
    source = np.zeros((2, rate + 123), dtype=np.float32)
    source[:, 5000] = 0.9
    source[:, -300] = -0.9
    data = encode_audio(source, sample_rate=rate)
    assert sniff_audio_type(data) == "mp3"
    raw = np.concatenate([frame.to_ndarray() for frame in av.open(io.BytesIO(data), mode="r").decode(audio=0)], axis=1)
    # Without the tag this would be 1105 samples of delay plus the last frame's padding longer.
    assert raw.shape == source.shape
    assert np.argmax(raw[0, :10_000]) == 5000
    assert np.argmin(raw[0]) == source.shape[1] - 300


def test_mp3_is_192_kbps_and_keeps_the_tone() -> None:
    source = sine(2.0, SAMPLE_RATE)
    data = encode_audio(source)
    assert 46_000 < len(data) < 50_000  # 192 kbps for 2 s is 48,000 bytes
    audio = decode_audio(data)
    assert audio.shape == source.shape
    assert np.abs(audio - source).max() < 0.02


def test_info_tag_is_skipped_for_streams_lame_did_not_make() -> None:
    assert add_info_tag(b"not an mp3 at all", input_samples=100) == b"not an mp3 at all"
    tagged = encode_audio(sine(0.1, SAMPLE_RATE))
    tag_frame = 576  # 192 kbps at 48 kHz: 144000 * 192 / 48000 bytes
    assert tagged[tag_frame : tag_frame + 2] == b"\xff\xfb"
    cut_mid_frame = tagged[tag_frame:-10]
    assert add_info_tag(cut_mid_frame, input_samples=4800) == cut_mid_frame


def test_mono_mp3_is_encoded_and_comes_back_stereo() -> None:
    audio = decode_audio(encode_audio(sine(1.0, 44100, channels=1), sample_rate=44100))
    assert audio.shape[0] == 2
    np.testing.assert_array_equal(audio[0], audio[1])


def test_samples_are_clipped_not_wrapped() -> None:
    loud = np.full((2, 4800), 3.0, dtype=np.float32)
    loud[1] = -3.0
    loud[0, :10] = np.nan
    audio = decode_audio(encode_audio(loud, fmt="wav"))
    assert audio[0, 100] == pytest.approx(1.0, abs=1e-4)
    assert audio[1, 100] == pytest.approx(-1.0, abs=1e-4)
    assert (audio[0, :10] == 0).all()


def test_input_array_is_left_untouched() -> None:
    loud = np.full((2, 100), 2.0, dtype=np.float32)
    encode_audio(loud, fmt="flac")
    assert (loud == 2.0).all()


@pytest.mark.parametrize("shape", [(100,), (3, 100), (2, 100, 1)])
def test_wrong_shapes_are_programming_errors(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="channels, samples"):
        encode_audio(np.zeros(shape, dtype=np.float32))


def test_unknown_format_and_bad_mp3_rate_are_refused() -> None:
    with pytest.raises(ValueError, match="unsupported output format"):
        encode_audio(sine(0.1, SAMPLE_RATE), fmt="ogg")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="96000 Hz"):
        encode_audio(sine(0.1, 96000), sample_rate=96000)


def test_content_types_cover_every_upload_and_output_format() -> None:
    assert CONTENT_TYPES == {
        "mp3": "audio/mpeg",
        "wav": "audio/wav",
        "flac": "audio/flac",
        "ogg": "audio/ogg",
        "m4a": "audio/mp4",
    }

"""Encode generated audio to the file formats a task can ask for (``output_format``).

mp3 goes through LAME (``lameenc``), with an Info tag of our own so that it decodes to exactly the
samples encoded (see ``mp3_info``); wav and flac go through libsndfile. All are 16-bit: the model's
output has far less than 16 bits of real resolution, and clients expect ordinary files.
"""

from __future__ import annotations

import io
from typing import Final

import lameenc
import numpy as np
import numpy.typing as npt
import soundfile

from aceserve.media.formats import SAMPLE_RATE, Audio, OutputFormat
from aceserve.media.mp3_info import add_info_tag

MP3_BITRATE_KBPS: Final = 192
_MP3_QUALITY: Final = 2  # LAME's "high quality" algorithm choice; 0-1 are much slower for little gain
_MP3_SAMPLE_RATES: Final = frozenset({8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000})


def encode_audio(audio: Audio, *, sample_rate: int = SAMPLE_RATE, fmt: OutputFormat = OutputFormat.MP3) -> bytes:
    """Encode float samples shaped ``(channels, samples)`` (1 or 2 channels) to a file's bytes.

    Samples are clipped to [-1, 1] first (NaN becomes silence), so a loud model output is
    limited rather than wrapped around by the integer conversion.
    """
    samples = _prepare(audio)
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    if fmt not in tuple(OutputFormat):
        raise ValueError(f"unsupported output format {fmt!r}; expected {', '.join(OutputFormat)}")
    if fmt == OutputFormat.MP3:
        return _encode_mp3(samples, sample_rate)
    buffer = io.BytesIO()
    soundfile.write(buffer, samples.T, sample_rate, format=fmt.upper(), subtype="PCM_16")
    return buffer.getvalue()


def _prepare(audio: Audio) -> npt.NDArray[np.float32]:
    if not isinstance(audio, np.ndarray) or audio.ndim != 2 or audio.shape[0] not in (1, 2):
        shape = getattr(audio, "shape", None)
        raise ValueError(f"audio must be an array shaped (channels, samples) with 1 or 2 channels, got {shape}")
    samples = np.nan_to_num(audio.astype(np.float32, copy=True), nan=0.0, posinf=1.0, neginf=-1.0)
    np.clip(samples, -1.0, 1.0, out=samples)
    return samples


def _encode_mp3(samples: npt.NDArray[np.float32], sample_rate: int) -> bytes:
    if sample_rate not in _MP3_SAMPLE_RATES:
        raise ValueError(f"mp3 cannot carry a sample rate of {sample_rate} Hz")
    channels = samples.shape[0]
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(MP3_BITRATE_KBPS)
    encoder.set_in_sample_rate(sample_rate)
    encoder.set_channels(channels)
    encoder.set_quality(_MP3_QUALITY)
    # LAME takes interleaved little-endian int16; 32767 keeps +1.0 from overflowing.
    pcm = np.rint(samples.T * 32767.0).astype("<i2")
    stream = bytes(encoder.encode(pcm.tobytes()) + encoder.flush())
    return add_info_tag(stream, input_samples=samples.shape[1])

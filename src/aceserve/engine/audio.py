"""Sample-level work around the model: counting samples, checking input audio, loudness, splicing.

Numpy only. Rounding rule used everywhere: a duration in seconds becomes
``floor(seconds * 48000 + 0.5)`` samples (round half up), so 10.0 s is exactly 480 000 samples.
"""

from __future__ import annotations

import math

import numpy as np

from aceserve.domain.errors import TaskInputError
from aceserve.engine.types import CHANNELS, MAX_OUTPUT_SECONDS, SAMPLE_RATE, Audio

PEAK_TARGET = 10.0 ** (-1.0 / 20.0)  # -1 dBFS, the level the diffusers pipeline normalizes to
SEAM_SAMPLES = 1920  # 40 ms: the length of the blend at each extend seam (one latent frame at 25 Hz)
MAX_OUTPUT_SAMPLES = int(MAX_OUTPUT_SECONDS * SAMPLE_RATE)


def seconds_to_samples(seconds: float) -> int:
    """Seconds to a whole number of samples at 48 kHz, rounding half up."""
    return math.floor(seconds * SAMPLE_RATE + 0.5)


def prepare_input_audio(audio: object, field: str) -> Audio:
    """Check decoded input audio and return it as C-contiguous float32 ``(2, samples)``.

    Mono, ``(samples,)`` or ``(1, samples)``, is duplicated to both channels. Raises
    ``TaskInputError`` with a sentence naming ``field`` for anything the model cannot take.
    """
    if not isinstance(audio, np.ndarray):
        raise TaskInputError(f"`{field}` could not be decoded into audio samples (got {type(audio).__name__}).")
    if audio.ndim == 1:
        audio = audio[np.newaxis, :]
    if audio.ndim != 2 or audio.shape[0] not in (1, CHANNELS):
        raise TaskInputError(
            f"`{field}` must be mono or stereo audio shaped (channels, samples); got shape {audio.shape}."
        )
    if not np.issubdtype(audio.dtype, np.floating):
        raise TaskInputError(f"`{field}` must hold floating-point samples; got dtype {audio.dtype}.")
    samples = audio.shape[1]
    if samples == 0:
        raise TaskInputError(f"`{field}` is empty: the decoded audio has no samples.")
    if samples > MAX_OUTPUT_SAMPLES:
        raise TaskInputError(
            f"`{field}` is {samples / SAMPLE_RATE:.1f} s long; the longest input accepted is "
            f"{MAX_OUTPUT_SECONDS:.0f} s."
        )
    out = np.ascontiguousarray(audio, dtype=np.float32)
    if out.shape[0] == 1:
        out = np.ascontiguousarray(np.repeat(out, CHANNELS, axis=0))
    if not np.isfinite(out).all():
        raise TaskInputError(f"`{field}` contains NaN or infinite samples.")
    return out


def fit_length(audio: Audio, samples: int) -> Audio:
    """Crop ``audio`` to ``samples``, or loop it until it is that long."""
    if audio.shape[1] >= samples:
        return np.ascontiguousarray(audio[:, :samples])
    repeats = -(-samples // audio.shape[1])
    return np.ascontiguousarray(np.tile(audio, (1, repeats))[:, :samples])


def pad_to(audio: Audio, samples: int) -> Audio:
    """Append silence so ``audio`` is ``samples`` long (never shortens)."""
    missing = samples - audio.shape[1]
    if missing <= 0:
        return audio
    return np.ascontiguousarray(np.pad(audio, ((0, 0), (0, missing))))


def normalize_peak(audio: Audio) -> Audio:
    """Scale to a -1 dBFS peak, as the diffusers pipeline does with what it decodes."""
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    return (audio * np.float32(PEAK_TARGET / max(peak, 1e-6))).astype(np.float32)


def _rms(x: Audio) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def _ramp(length: int) -> Audio:
    """Raised-cosine weights from 1 (at the seam) down towards 0, ``length`` long."""
    k = np.arange(length, dtype=np.float64)
    return (0.5 * (1.0 + np.cos(np.pi * k / length))).astype(np.float32)


def splice_extension(decoded: Audio, source: Audio, *, source_offset: int, left: int, right: int) -> Audio:
    """Build ``left pad + source + right pad`` from the decoded extension and the original samples.

    ``decoded`` is the VAE output of the whole padded latent sequence; the source sits in it at
    ``source_offset``. The pads are scaled so the decoded source region has the loudness (RMS) of
    the original (the factor is clamped to 0.1..10). The original samples are copied in unchanged,
    so the source region is bit-exact. At each seam the difference between the original and its
    decoded version, mirrored into the pad, is blended in with a 40 ms raised-cosine fade: the pad
    then meets the original sample at the seam without a jump and is untouched 40 ms away.
    """
    samples = source.shape[1]
    region = decoded[:, source_offset : source_offset + samples]
    original_rms, decoded_rms = _rms(source), _rms(region)
    gain = 1.0
    if original_rms > 1e-6 and decoded_rms > 1e-6:
        gain = min(max(original_rms / decoded_rms, 0.1), 10.0)
    scaled = decoded * np.float32(gain)
    region = scaled[:, source_offset : source_offset + samples]
    left_pad = np.array(scaled[:, source_offset - left : source_offset], dtype=np.float32)
    right_pad = np.array(scaled[:, source_offset + samples : source_offset + samples + right], dtype=np.float32)
    residual = source - region
    if left:
        n = min(SEAM_SAMPLES, left, samples)
        left_pad[:, left - n :] += (residual[:, :n] * _ramp(n))[:, ::-1]
    if right:
        n = min(SEAM_SAMPLES, right, samples)
        right_pad[:, :n] += residual[:, samples - n :][:, ::-1] * _ramp(n)
    pads_peak = max(float(np.abs(left_pad).max(initial=0.0)), float(np.abs(right_pad).max(initial=0.0)))
    if pads_peak > 1.0:
        left_pad /= np.float32(pads_peak)
        right_pad /= np.float32(pads_peak)
    return np.ascontiguousarray(np.concatenate([left_pad, source, right_pad], axis=1), dtype=np.float32)

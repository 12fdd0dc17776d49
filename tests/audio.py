"""Input audio for tests that send audio to the service: a stereo tone as a 16-bit WAV file."""

from __future__ import annotations

import io

import numpy as np
import soundfile


def tone_wav(seconds: float, *, freq: float = 220.0, right: float = 1.0) -> bytes:
    """``seconds`` of a sine at 48 kHz; the right channel is the left scaled by ``right``."""
    t = np.arange(round(seconds * 48_000)) / 48_000
    tone = (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    buffer = io.BytesIO()
    soundfile.write(buffer, np.stack([tone, right * tone], axis=1), 48_000, format="WAV", subtype="PCM_16")
    return buffer.getvalue()

"""Constants shared by the media modules: the engine's audio shape and the file types we serve.

The engine keeps its own copy of ``SAMPLE_RATE`` and ``CHANNELS``: the layer contract forbids media
from importing the engine, and the worker checks that both agree where it wires them together.
"""

from __future__ import annotations

from typing import Final, Literal

import numpy as np
import numpy.typing as npt

SAMPLE_RATE: Final = 48_000
CHANNELS: Final = 2

Audio = npt.NDArray[np.float32]
"""Float32 samples shaped ``(channels, samples)``; decoded audio is always ``(2, n)`` at 48 kHz."""

OutputFormat = Literal["mp3", "wav", "flac"]
"""Formats we encode results to (the ``output_format`` input field)."""

AudioType = Literal["mp3", "wav", "flac", "ogg", "m4a"]
"""File types recognised by :func:`aceserve.media.sniff_audio_type` (the upload extensions)."""

CONTENT_TYPES: Final[dict[str, str]] = {
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "m4a": "audio/mp4",
}
"""MIME type per file extension, for stored files and download responses."""

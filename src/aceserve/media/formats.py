"""Constants shared by the media modules: the file types we serve. The audio shape (``SAMPLE_RATE``,
``CHANNELS``) and the output formats are the domain's (``aceserve.domain``), shared with the engine."""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from aceserve.domain.limits import CHANNELS, SAMPLE_RATE
from aceserve.domain.states import AudioType, OutputFormat

__all__ = ["CHANNELS", "CONTENT_TYPES", "SAMPLE_RATE", "Audio", "AudioType", "OutputFormat"]

Audio = npt.NDArray[np.float32]
"""Float32 samples shaped ``(channels, samples)``; decoded audio is always ``(2, n)`` at 48 kHz."""

CONTENT_TYPES: Final[dict[str, str]] = {
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "m4a": "audio/mp4",
}
"""MIME type per file extension, for stored files and download responses."""

"""Audio in and out: decode untrusted files to the engine's shape, encode results, sniff types.

Audio is float32 numpy shaped ``(channels, samples)``; everything decoded is stereo at 48 kHz.
This package must not import the engine (and so never torch): the API process uses it too.
"""

from aceserve.media.decode import AudioSource, decode_audio
from aceserve.media.encode import MP3_BITRATE_KBPS, encode_audio
from aceserve.media.formats import CHANNELS, CONTENT_TYPES, SAMPLE_RATE, Audio, AudioType, OutputFormat
from aceserve.media.probe import probe_seconds
from aceserve.media.sniff import sniff_audio_type

__all__ = [
    "CHANNELS",
    "CONTENT_TYPES",
    "MP3_BITRATE_KBPS",
    "SAMPLE_RATE",
    "Audio",
    "AudioSource",
    "AudioType",
    "OutputFormat",
    "decode_audio",
    "encode_audio",
    "probe_seconds",
    "sniff_audio_type",
]

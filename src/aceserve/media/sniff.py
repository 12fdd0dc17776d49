"""Recognise an audio file's type from its first bytes.

Uploads name a file ``x.mp3``; this tells whether the bytes agree, cheaply and without running
FFmpeg on the request path. It recognises only the five upload types and says nothing about
whether the rest of the file is valid: decoding, later, is the real test.
"""

from __future__ import annotations

from aceserve.media.formats import AudioType

_ID3_HEADER_SIZE = 10


def sniff_audio_type(data: bytes) -> AudioType | None:
    """Return "mp3", "wav", "flac", "ogg" or "m4a" from the file's magic bytes, else None.

    An ID3v2 tag is skipped to see what it wraps: FLAC files sometimes carry one, and anything
    else behind an ID3 tag is taken to be mp3 (whose frames may follow after padding).
    """
    head = bytes(data[:12])
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"OggS":
        return "ogg"
    if head[4:8] == b"ftyp":
        return "m4a"
    if head[:3] == b"ID3":
        behind = _after_id3(data)
        return "flac" if behind[:4] == b"fLaC" else "mp3"
    if _is_mpeg_audio_frame(head):
        return "mp3"
    return None


def _after_id3(data: bytes) -> bytes:
    """The bytes after an ID3v2 tag (its size is a 28-bit "synchsafe" integer, 7 bits per byte)."""
    header = data[:_ID3_HEADER_SIZE]
    if len(header) < _ID3_HEADER_SIZE or any(byte & 0x80 for byte in header[6:10]):
        return b""
    size = (header[6] << 21) | (header[7] << 14) | (header[8] << 7) | header[9]
    if header[5] & 0x10:  # a footer follows the tag
        size += _ID3_HEADER_SIZE
    start = _ID3_HEADER_SIZE + size
    return bytes(data[start : start + 4])


def _is_mpeg_audio_frame(head: bytes) -> bool:
    """Whether ``head`` starts with a plausible MPEG audio (layer I-III) frame header.

    Eleven set sync bits alone match ADTS AAC and too much random data, so the reserved values of
    version, layer, bitrate and sample rate are refused as well.
    """
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version = (head[1] >> 3) & 0b11
    layer = (head[1] >> 1) & 0b11
    bitrate_index = head[2] >> 4
    sample_rate_index = (head[2] >> 2) & 0b11
    return version != 0b01 and layer != 0b00 and bitrate_index != 0b1111 and sample_rate_index != 0b11

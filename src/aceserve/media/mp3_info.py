"""Prepend a LAME "Info" tag to a CBR mp3 stream so decoders trim LAME's delay and padding.

An mp3 always decodes longer than what was encoded: LAME delays the signal by 576 samples, the
decoder adds 529 more, and the last frame is padded. LAME records both amounts in an Info tag in
an empty first frame; FFmpeg, browsers and mpg123 read it and give back exactly the samples that
went in ("gapless"). ``lameenc`` cannot write that tag (LAME writes it by seeking back to the
start of a file), so we build it here: a plain, documented structure of about 200 bytes.

Layout reference: the LAME tag specification (gabriel.mp3-tech.org/mp3infotag.html).
"""

from __future__ import annotations

from typing import Final

ENCODER_DELAY: Final = 576  # LAME's ENCDELAY: silence it puts before the first input sample

_BITRATES_KBPS: Final = {
    1: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),  # MPEG-1 layer III
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),  # MPEG-2 and 2.5 layer III
}
_SAMPLE_RATES: Final = {0b11: (44100, 48000, 32000), 0b10: (22050, 24000, 16000), 0b00: (11025, 12000, 8000)}


class _Header:
    """The fields of a layer III frame header that fix the frame's size."""

    def __init__(self, raw: bytes) -> None:
        if len(raw) < 4 or raw[0] != 0xFF or raw[1] & 0xE0 != 0xE0 or (raw[1] >> 1) & 0b11 != 0b01:
            raise ValueError("not an MPEG layer III frame header")
        version = (raw[1] >> 3) & 0b11
        if version == 0b01 or raw[2] >> 4 in (0, 15) or (raw[2] >> 2) & 0b11 == 0b11:
            raise ValueError("reserved or free-format values in the frame header")
        self.raw = bytes(raw[:4])
        self.mpeg1 = version == 0b11
        self.kbps = _BITRATES_KBPS[1 if self.mpeg1 else 2][raw[2] >> 4]
        self.sample_rate = _SAMPLE_RATES[version][(raw[2] >> 2) & 0b11]
        self.padding = (raw[2] >> 1) & 1
        self.mono = raw[3] >> 6 == 0b11
        self.samples_per_frame = 1152 if self.mpeg1 else 576
        coefficient = 144_000 if self.mpeg1 else 72_000
        self.size = coefficient * self.kbps // self.sample_rate + self.padding
        if self.mpeg1:
            self.side_info_size = 17 if self.mono else 32
        else:
            self.side_info_size = 9 if self.mono else 17


def add_info_tag(stream: bytes, *, input_samples: int) -> bytes:
    """Return ``stream`` (a LAME CBR mp3 of ``input_samples`` per channel) behind an Info tag.

    The stream is returned unchanged when it does not look like what LAME makes; a file without
    the tag is still valid, only a little longer when decoded.
    """
    try:
        first = _Header(stream[:4])
        frames = _count_frames(stream)
    except ValueError:
        return stream
    end_padding = frames * first.samples_per_frame - input_samples - ENCODER_DELAY
    if not 0 <= end_padding < 4096:
        return stream
    tag = _info_frame(first, frames=frames, stream_bytes=len(stream), end_padding=end_padding)
    return tag + stream if tag else stream


def _count_frames(stream: bytes) -> int:
    offset = frames = 0
    while offset < len(stream):
        offset += _Header(stream[offset : offset + 4]).size
        frames += 1
    if offset != len(stream):
        raise ValueError("the stream does not end on a frame boundary")
    return frames


def _info_frame(first: _Header, *, frames: int, stream_bytes: int, end_padding: int) -> bytes:
    header = bytearray(first.raw)
    header[1] |= 0x01  # no CRC after the header
    header[2] &= 0xFD  # no padding slot
    size = _Header(bytes(header)).size
    body = bytearray()
    body += b"Info"  # "Info" rather than "Xing": the stream is constant bitrate
    body += (0x0F).to_bytes(4, "big")  # frame count, byte count, TOC and quality fields follow
    body += frames.to_bytes(4, "big")
    body += (size + stream_bytes).to_bytes(4, "big")
    body += bytes(i * 256 // 100 for i in range(100))  # seek table: linear for CBR
    body += (0).to_bytes(4, "big")  # quality
    body += b"LAME3.100"
    body += bytes([0x01])  # tag revision 0, VBR method 1 (constant bitrate)
    body += bytes([0])  # lowpass unknown
    body += bytes(4 + 2 + 2)  # peak and ReplayGain: not computed
    body += bytes([0])  # encoding flags, ATH type
    body += bytes([min(first.kbps, 255)])
    body += ((ENCODER_DELAY << 12) | end_padding).to_bytes(3, "big")
    body += bytes([0, 0])  # misc, mp3 gain
    body += (0).to_bytes(2, "big")  # preset, surround
    body += (size + stream_bytes).to_bytes(4, "big")  # music length: the file from this frame on
    body += (0).to_bytes(2, "big")  # music CRC: optional, not computed
    frame = bytearray(header) + bytes(first.side_info_size) + body
    frame += _crc16(bytes(frame)).to_bytes(2, "big")
    if len(frame) > size:
        return b""
    return bytes(frame + bytes(size - len(frame)))


def _crc16(data: bytes) -> int:
    """CRC-16/ARC (polynomial 0x8005 reflected), which the LAME tag uses for its own checksum."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc

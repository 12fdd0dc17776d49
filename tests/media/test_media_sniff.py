from __future__ import annotations

import pytest

from aceserve.media import sniff_audio_type
from tests.media.media_samples import sine, write_pyav, write_soundfile


@pytest.mark.parametrize(
    ("container", "codec", "expected"),
    [
        ("mp3", "libmp3lame", "mp3"),  # PyAV's muxer writes an ID3 tag first
        ("ogg", "libopus", "ogg"),
        ("ipod", "aac", "m4a"),
        ("mp4", "aac", "m4a"),
        ("flac", "flac", "flac"),
        ("wav", "pcm_s16le", "wav"),
    ],
)
def test_files_written_by_ffmpeg_are_recognised(container: str, codec: str, expected: str) -> None:
    rate = 48000
    assert sniff_audio_type(write_pyav(sine(0.2, rate), rate, container, codec)) == expected


def test_bare_mpeg_frames_without_id3_are_mp3() -> None:
    assert sniff_audio_type(bytes([0xFF, 0xFB, 0x90, 0x64]) + bytes(100)) == "mp3"  # MPEG-1 layer III
    assert sniff_audio_type(bytes([0xFF, 0xF3, 0x40, 0xC4]) + bytes(100)) == "mp3"  # MPEG-2 layer III


def test_adts_aac_and_random_sync_bytes_are_not_mp3() -> None:
    assert sniff_audio_type(bytes([0xFF, 0xF1, 0x50, 0x80]) + bytes(100)) is None  # ADTS: layer 00
    assert sniff_audio_type(bytes([0xFF, 0xFB, 0xF0, 0x64]) + bytes(100)) is None  # bitrate index 15
    assert sniff_audio_type(bytes([0xFF, 0xFB, 0x9C, 0x64]) + bytes(100)) is None  # sample rate index 3
    assert sniff_audio_type(bytes([0xFF, 0xEB, 0x90, 0x64]) + bytes(100)) is None  # version 01


def test_flac_behind_an_id3_tag_is_flac() -> None:
    flac = write_soundfile(sine(0.1, 48000), 48000, "FLAC")
    tag_body = bytes(300)
    size = bytes([(len(tag_body) >> shift) & 0x7F for shift in (21, 14, 7, 0)])
    assert sniff_audio_type(b"ID3\x04\x00\x00" + size + tag_body + flac) == "flac"
    assert sniff_audio_type(b"ID3\x04\x00\x00" + size + tag_body + b"\xff\xfb\x90\x64") == "mp3"


def test_rf64_wave_is_wav() -> None:
    assert sniff_audio_type(b"RF64\xff\xff\xff\xffWAVEds64") == "wav"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"ID",
        b"RIFF\x00\x00\x00\x00AVI LIST",
        b"<!DOCTYPE html><html>",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        b"%PDF-1.7\n",
        b"ffconcat version 1.0\n",
    ],
)
def test_other_bytes_are_not_recognised(data: bytes) -> None:
    assert sniff_audio_type(data) is None

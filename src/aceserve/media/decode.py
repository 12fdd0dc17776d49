"""Decode untrusted audio files into the engine's shape: float32, ``(2, samples)``, 48 kHz.

Input files come from users, so decoding is treated as hostile ground:

- FFmpeg is always fed through a Python file object, never a file name: a name such as
  ``concat:…`` or ``http://…`` would otherwise be read as a protocol.
- Only audio-oriented demuxers are allowed (``format_whitelist``) and nested opens are refused
  (``protocol_whitelist``). Without this an uploaded "audio" file that is really an ``ffconcat``
  script or an HLS playlist makes FFmpeg read other files from the server's disk or fetch URLs.
- Length is checked while decoding, so a file far over the limit stops early instead of being
  decoded whole into memory.

Every problem with the file itself raises :class:`TaskInputError` with a sentence naming the field;
problems of our own (a missing local file) propagate as ordinary ``OSError``.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Final

import av
import av.container
import numpy as np

from aceserve.domain.errors import TaskInputError
from aceserve.media.formats import CHANNELS, SAMPLE_RATE, Audio

# Demuxers for audio containers (and the audio in common video containers). Deliberately absent:
# concat, hls, dash, image2, tee, sdp, rtsp and the like, which open further files or URLs.
_DEMUXERS: Final = (
    "mp3,wav,w64,flac,ogg,mov,aac,loas,matroska,aiff,caf,au,ac3,eac3,dts,truehd,mlp,wv,ape,tta,tak,"
    "shn,amr,amrnb,amrwb,asf,mpc,mpc8,avi,voc,dsf,iff,xwma,mpeg,mpegts,flv"
)
_CONTAINER_OPTIONS: Final = {"format_whitelist": _DEMUXERS, "protocol_whitelist": "none"}

# Encoders pad the end (an mp3 of exactly 600 s decodes to ~600.03 s). Audio at most this much over
# the limit is accepted and trimmed to the limit instead of being refused.
LENGTH_TOLERANCE_SECONDS: Final = 0.1

# A few damaged packets are skipped, as the ffmpeg command does; more than this fails the file.
_MAX_BAD_PACKETS: Final = 16

_UNORDERED_CHANNEL_NAMES: Final = frozenset({"NONE", "UNK", "UNKNOWN"})

AudioSource = bytes | bytearray | memoryview | os.PathLike[str]


def decode_audio(source: AudioSource, *, max_seconds: float = 600.0, field: str = "audio") -> Audio:
    """Decode a whole audio file (bytes in memory, or a path) to float32 ``(2, n)`` at 48 kHz.

    Mono is copied to both channels; more than two channels are downmixed (FFmpeg's standard matrix
    when the channel layout is known, the channels' mean when it is not); any sample rate is
    resampled to 48 kHz. ``field`` names the input in error messages.

    Raises:
        TaskInputError: the file is empty, not decodable audio, has no samples, or is longer than
            ``max_seconds``.
    """
    if max_seconds <= 0:
        raise ValueError(f"max_seconds must be positive, got {max_seconds}")
    with open_container(source, field) as container:
        if not container.streams.audio:
            raise TaskInputError(f"`{field}` could not be decoded as audio (the file has no audio stream)")
        stream = container.streams.audio[0]
        limit = _Limit(max_seconds, field, _declared_seconds(container, stream))
        chunks = list(_decoded_chunks(container, stream, limit, field))
    if not chunks:
        raise TaskInputError(f"`{field}` contains no audio samples")
    audio = np.concatenate(chunks, axis=1)
    if audio.shape[1] == 0:
        raise TaskInputError(f"`{field}` contains no audio samples")
    audio = audio[:, : limit.keep_samples]
    np.nan_to_num(audio, copy=False, nan=0.0, posinf=1.0, neginf=-1.0)
    return np.ascontiguousarray(audio, dtype=np.float32)


@contextmanager
def open_container(source: AudioSource, field: str) -> Iterator[av.container.InputContainer]:
    """Open ``source`` through a Python file object with the hardened options."""
    file: IO[bytes]
    if isinstance(source, bytes | bytearray | memoryview):
        if len(source) == 0:
            raise TaskInputError(f"`{field}` is empty (0 bytes)")
        file = io.BytesIO(source)
    else:
        file = open(source, "rb")  # noqa: SIM115 - closed below; OSError here is ours, not the user's
    try:
        try:
            container = av.open(file, mode="r", container_options=_CONTAINER_OPTIONS, metadata_errors="replace")
        except (av.error.InvalidDataError, av.error.ArgumentError) as exc:
            raise TaskInputError(f"`{field}` could not be decoded as audio (not a recognised audio format)") from exc
        except av.error.FFmpegError as exc:
            raise TaskInputError(f"`{field}` could not be decoded as audio ({reason(exc)})") from exc
        with container:
            yield container
    finally:
        file.close()


class _Limit:
    """Counts output samples and refuses the file once it is over ``max_seconds``."""

    def __init__(self, max_seconds: float, field: str, declared_seconds: float | None) -> None:
        self.max_seconds = max_seconds
        self.keep_samples = round(max_seconds * SAMPLE_RATE)
        self.refuse_above = round((max_seconds + LENGTH_TOLERANCE_SECONDS) * SAMPLE_RATE)
        self.field = field
        self.declared_seconds = declared_seconds
        self.samples = 0

    def add(self, samples: int) -> None:
        self.samples += samples
        if self.samples > self.refuse_above:
            limit = f"{self.max_seconds:g} s"
            if self.declared_seconds is not None and self.declared_seconds > self.max_seconds:
                length = f"is {self.declared_seconds:.1f} s long"
            else:  # the header does not know; we stopped decoding early, so say no more than we know
                length = f"is longer than {limit}"
            raise TaskInputError(f"`{self.field}` {length}; the limit is {limit}")


def _decoded_chunks(
    container: av.container.InputContainer, stream: av.AudioStream, limit: _Limit, field: str
) -> Iterator[Audio]:
    """Yield ``(2, n)`` float32 chunks at 48 kHz, counting them against ``limit`` as they come."""
    converter = _Converter()
    bad_packets = 0
    first_error: av.error.FFmpegError | None = None
    try:
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.error.InvalidDataError as exc:
                bad_packets += 1
                first_error = first_error or exc
                if bad_packets > _MAX_BAD_PACKETS:
                    raise TaskInputError(f"`{field}` could not be decoded as audio ({reason(exc)})") from exc
                continue
            for frame in frames:
                for chunk in converter.convert(frame):
                    limit.add(chunk.shape[1])
                    yield chunk
        for chunk in converter.flush():
            limit.add(chunk.shape[1])
            yield chunk
    except av.error.FFmpegError as exc:
        raise TaskInputError(f"`{field}` could not be decoded as audio ({reason(exc)})") from exc
    if limit.samples == 0 and first_error is not None:
        raise TaskInputError(f"`{field}` could not be decoded as audio ({reason(first_error)})")


class _Converter:
    """Resamples frames to float at 48 kHz and maps their channels to stereo.

    A stream may change its sample rate or layout midway (chained Ogg, some broadcast mp3s), so a
    resampler is built per input configuration and flushed when the configuration changes.
    """

    def __init__(self) -> None:
        self._key: tuple[str, str, int] | None = None
        self._resampler: av.AudioResampler | None = None

    def convert(self, frame: av.AudioFrame) -> Iterator[Audio]:
        key = (frame.format.name, frame.layout.name, frame.sample_rate)
        if key != self._key:
            yield from self.flush()
            self._key = key
            sample_format, layout = _target(frame.layout)
            self._resampler = av.AudioResampler(format=sample_format, layout=layout, rate=SAMPLE_RATE)
        assert self._resampler is not None
        for out in self._resampler.resample(frame):
            yield _to_stereo(out)

    def flush(self) -> Iterator[Audio]:
        if self._resampler is not None:
            for out in self._resampler.resample(None):
                yield _to_stereo(out)
        self._resampler = None
        self._key = None


def _target(layout: av.AudioLayout) -> tuple[str, str | av.AudioLayout]:
    """Sample format and layout to resample to: FFmpeg downmixes only where it knows the channels.

    Channels of unknown order are kept, packed ("flt", one plane), and averaged by us: FFmpeg would
    keep the first two and drop the rest. Packed, because PyAV 18's ``AudioFrame.planes`` reads
    past the end of FFmpeg's 8 data pointers and crashes the process on planar frames of 8 or more
    channels (found by fuzzing; damaged AAC can claim 53 channels).
    """
    if layout.nb_channels == 1:
        return "fltp", "mono"  # FFmpeg's mono→stereo lowers the level by 3 dB; we duplicate instead
    if layout.nb_channels > 2 and any(channel.name in _UNORDERED_CHANNEL_NAMES for channel in layout.channels):
        return "flt", layout
    return "fltp", "stereo"


def _to_stereo(frame: av.AudioFrame) -> Audio:
    samples = frame.to_ndarray().astype(np.float32, copy=False)
    if not frame.format.is_planar:  # packed: one row of interleaved samples
        samples = samples.reshape(-1, frame.layout.nb_channels).T
    if samples.shape[0] == CHANNELS:
        return samples
    if samples.shape[0] == 1:
        return np.repeat(samples, CHANNELS, axis=0)
    return np.repeat(samples.mean(axis=0, keepdims=True, dtype=np.float32), CHANNELS, axis=0)


def _declared_seconds(container: av.container.InputContainer, stream: av.AudioStream) -> float | None:
    """The length the file's header claims, used only to word the too-long message."""
    if stream.duration is not None and stream.time_base is not None:
        seconds = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        seconds = container.duration / av.time_base
    else:
        return None
    return seconds if math.isfinite(seconds) and seconds > 0 else None


def reason(exc: av.error.FFmpegError) -> str:
    return str(exc.strerror or type(exc).__name__).rstrip(".")

"""How long an audio file is, without decoding all of it: what the create step needs to freeze the
exact cost of an audio task, and to refuse bytes that are not audio with a 400.

The container is opened with the same hardened options as ``decode_audio``. The length comes from
the packets' timestamps (demuxing, no decoding), which is what decoding yields to within the
encoder's padding of a few milliseconds; the first packets are decoded, so a file that only looks
like audio is refused too.
"""

from __future__ import annotations

import contextlib
from typing import Final

import av

from aceserve.domain.errors import TaskInputError
from aceserve.media.decode import LENGTH_TOLERANCE_SECONDS, open_container, reason

_DECODE_FIRST_PACKETS: Final = 4


def probe_seconds(data: bytes, *, field: str, max_seconds: float) -> float:
    """Seconds of audio in ``data``; ``TaskInputError`` (naming ``field``) for anything that is not
    audio, holds no samples or is longer than ``max_seconds``."""
    with open_container(data, field) as container:
        if not container.streams.audio:
            raise TaskInputError(f"`{field}` could not be decoded as audio (the file has no audio stream)")
        stream = container.streams.audio[0]
        base = stream.time_base
        start: int | None = None
        end = 0
        decoded_frames = 0
        checked = 0
        try:
            for packet in container.demux(stream):
                if packet.pts is None or packet.size == 0:
                    continue
                start = packet.pts if start is None else min(start, packet.pts)
                end = max(end, packet.pts + (packet.duration or 0))
                if checked < _DECODE_FIRST_PACKETS:
                    checked += 1
                    with contextlib.suppress(av.error.InvalidDataError):
                        decoded_frames += len(packet.decode())
                if base is not None and start is not None and float((end - start) * base) > max_seconds + 60:
                    break  # far over the limit: no need to read the rest
        except av.error.FFmpegError as exc:
            if start is None:
                raise TaskInputError(f"`{field}` could not be decoded as audio ({reason(exc)})") from exc
    if start is None or base is None or decoded_frames == 0:
        raise TaskInputError(f"`{field}` could not be decoded as audio (no audio samples could be read)")
    seconds = float((end - start) * base)
    if seconds <= 0:
        raise TaskInputError(f"`{field}` contains no audio samples")
    if seconds > max_seconds + LENGTH_TOLERANCE_SECONDS:
        raise TaskInputError(f"`{field}` is {seconds:.1f} s long; the limit is {max_seconds:g} s")
    return min(seconds, max_seconds)

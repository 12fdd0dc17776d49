"""Decode untrusted audio and encode outputs in helper processes, so that a native crash fails one task
only.

A native crash (a segfault in PyAV or FFmpeg on a crafted file, in LAME or libsndfile) would otherwise
kill the GPU worker that decodes or encodes in its own process; a decoding task would then be claimed
by the next worker, which would crash too. :class:`IsolatedDecoder` runs
:func:`aceserve.media.decode_audio` in a :class:`~aceserve.media.helper.HelperProcess` and turns the
child's death into a :class:`TaskInputError` for that file; :class:`IsolatedEncoder` runs
:func:`aceserve.media.encode_audio` in one and turns the child's death into :class:`EncoderFailed`.
Large audio crosses in shared memory (``helper.share``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Final, TypeVar

from aceserve.domain.errors import TaskInputError
from aceserve.media.decode import decode_audio
from aceserve.media.encode import encode_audio
from aceserve.media.formats import SAMPLE_RATE, Audio, OutputFormat
from aceserve.media.helper import HelperCrashed, HelperProcess, HelperTimedOut, Shared, read_shared, share, take, unlink

log = logging.getLogger("aceserve.media")

T = TypeVar("T")

DecodeTarget = Callable[[bytes, float, str], Audio]
"""What the decoding child runs: ``(data, max_seconds, field) -> audio``; a module-level function."""

EncodeTarget = Callable[[Audio, int, OutputFormat], bytes]
"""What the encoding child runs: ``(audio, sample_rate, fmt) -> file bytes``; a module-level function."""

DEFAULT_TIMEOUT_SECONDS: Final = 120.0
"""Longest one decode or encode may take (600 s of audio takes a few seconds) before the child is killed."""


def _decode(data: bytes, max_seconds: float, field: str) -> Audio:
    return decode_audio(data, max_seconds=max_seconds, field=field)


def _run_decode(target: DecodeTarget, data: bytes, max_seconds: float, field: str) -> Audio | Shared:
    """The decoding child's side of one call."""
    return share(target(data, max_seconds, field))


def _encode(audio: Audio, sample_rate: int, fmt: OutputFormat) -> bytes:
    return encode_audio(audio, sample_rate=sample_rate, fmt=fmt)


def _run_encode(target: EncodeTarget, audio: Audio | Shared, sample_rate: int, fmt: OutputFormat) -> bytes:
    """The encoding child's side of one call: reads the audio in place (the parent unlinks the block)."""
    return read_shared(audio, lambda samples: target(samples, sample_rate, fmt))


def call_on_input(
    helper: HelperProcess, timeout_seconds: float, field: str, doing: str, function: Callable[..., T], *args: Any
) -> T:
    """``helper.call`` on untrusted input: the child's death or a call over ``timeout_seconds`` is that
    input's ``TaskInputError`` naming ``field`` ("``doing`` took too long", "the audio decoder crashed")."""
    try:
        return helper.call(timeout_seconds, function, *args)
    except HelperTimedOut:
        log.warning("%s took over %g s on %s and was killed", helper.name, timeout_seconds, field)
        raise TaskInputError(
            f"`{field}` could not be decoded: {doing} took too long (over {timeout_seconds:g} s)"
        ) from None
    except HelperCrashed:
        log.warning("%s died on %s; starting a new one", helper.name, field)
        raise TaskInputError(f"`{field}` could not be decoded: the audio decoder crashed on this file") from None


class IsolatedDecoder:
    """Decodes audio with :func:`aceserve.media.decode_audio`'s contract, in a helper process.

    ``_target`` is a test seam, for tests only: the module-level function the child runs instead of
    decoding, so a test can make the real helper process crash or hang.
    """

    def __init__(self, *, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS, _target: DecodeTarget = _decode) -> None:
        if timeout_seconds <= 0:
            raise ValueError(f"timeout_seconds must be positive, got {timeout_seconds}")
        self.timeout_seconds = timeout_seconds
        self._target = _target
        self._helper = HelperProcess("the audio decoder process")

    def decode(self, data: bytes, *, max_seconds: float, field: str) -> Audio:
        """Decode a whole file to float32 ``(2, n)`` at 48 kHz, as :func:`aceserve.media.decode_audio`.

        Raises:
            TaskInputError: the file is bad (the child's message, unchanged), the decoder crashed on
                it, or decoding took longer than ``timeout_seconds``.
            RuntimeError: the helper process could not be started or is closed (our problem).
        """
        return take(
            call_on_input(
                self._helper,
                self.timeout_seconds,
                field,
                "decoding",
                _run_decode,
                self._target,
                data,
                max_seconds,
                field,
            )
        )

    def close(self) -> None:
        """Stop the helper process. Further calls to :meth:`decode` raise ``RuntimeError``."""
        self._helper.close()

    def __enter__(self) -> IsolatedDecoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EncoderFailed(RuntimeError):
    """The encoder process crashed or ran out of time on one output (the worker's problem, retryable)."""


class IsolatedEncoder:
    """Encodes audio with :func:`aceserve.media.encode_audio`'s contract, in its own helper process.

    One encoder encodes one output at a time; a worker runs several for parallel encoding.
    ``_target`` is a test seam, for tests only: the module-level function the child runs instead of
    encoding, so a test can make the real helper process crash on one output.
    """

    def __init__(self, *, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS, _target: EncodeTarget = _encode) -> None:
        if timeout_seconds <= 0:
            raise ValueError(f"timeout_seconds must be positive, got {timeout_seconds}")
        self.timeout_seconds = timeout_seconds
        self._target = _target
        self._helper = HelperProcess("the audio encoder process")

    @property
    def pid(self) -> int | None:
        """The helper process's id while it runs."""
        return self._helper.pid

    def start(self) -> None:
        """Start the helper process now, so the first output does not wait for it."""
        self._helper.start()

    def encode(self, audio: Audio, *, sample_rate: int = SAMPLE_RATE, fmt: OutputFormat = OutputFormat.MP3) -> bytes:
        """Encode as :func:`aceserve.media.encode_audio` does (its ``ValueError`` unchanged).

        Raises:
            EncoderFailed: the encoder process died or took longer than ``timeout_seconds``.
        """
        shared = share(audio)
        try:
            return self._helper.call(self.timeout_seconds, _run_encode, self._target, shared, sample_rate, fmt)
        except HelperTimedOut:
            raise EncoderFailed(f"encoding took too long (over {self.timeout_seconds:g} s)") from None
        except HelperCrashed:
            raise EncoderFailed("the audio encoder crashed on this output") from None
        finally:
            unlink(shared)

    def close(self) -> None:
        self._helper.close()

    def __enter__(self) -> IsolatedEncoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

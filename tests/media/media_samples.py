"""Test audio made on the spot: numpy sine waves written out by FFmpeg (PyAV) or libsndfile.

Test modules import these helpers from here (conftest.py is for fixtures only).
"""

from __future__ import annotations

import io

import av
import numpy as np
import numpy.typing as npt
import soundfile

Samples = npt.NDArray[np.float32]


def sine(seconds: float, rate: int, channels: int = 2, freq: float = 440.0, amplitude: float = 0.5) -> Samples:
    """A sine shaped ``(channels, samples)``; channel i is scaled by 1/(i+1) so channels differ."""
    t = np.arange(round(seconds * rate)) / rate
    wave = amplitude * np.sin(2 * np.pi * freq * t)
    return np.stack([wave / (i + 1) for i in range(channels)]).astype(np.float32)


def write_soundfile(samples: Samples, rate: int, fmt: str, subtype: str = "PCM_16") -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples.T, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def write_pyav(samples: Samples, rate: int, container: str, codec: str) -> bytes:
    """Encode with FFmpeg through PyAV, the way another program would have made the file."""
    layout = {1: "mono", 2: "stereo"}[samples.shape[0]]
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        assert isinstance(stream, av.AudioStream)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples), format="fltp", layout=layout)
        frame.sample_rate = rate
        resampler = av.AudioResampler(format=stream.format.name, layout=layout, rate=rate)
        for converted in [*resampler.resample(frame), *resampler.resample(None)]:
            for packet in stream.encode(converted):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buffer.getvalue()

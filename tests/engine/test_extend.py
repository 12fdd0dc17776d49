"""Extend: one pass regenerates only the pads; the original samples are spliced back untouched."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aceserve.domain.errors import TaskInputError
from aceserve.engine.audio import SEAM_SAMPLES, splice_extension
from aceserve.engine.engine import AceStepEngine
from aceserve.engine.types import SAMPLE_RATE, Audio
from tests.engine.helpers import noise_audio, request


@pytest.mark.parametrize(
    ("seconds", "left", "right"),
    [(3.3, 1.0, 2.0), (3.3, 0.0, 1.01), (2.0, 0.5, 0.0), (0.03, 0.25, 0.25), (1.0, 0.000021, 0.0)],
)
def test_source_region_is_the_input_exactly(engine: AceStepEngine, seconds: float, left: float, right: float) -> None:
    source = noise_audio(seconds, seed=5)
    (result,) = engine.generate(
        [request("extend", audio=source, left_extend_duration=left, right_extend_duration=right)]
    )
    lpad, rpad = round(left * SAMPLE_RATE), round(right * SAMPLE_RATE)
    audio = result.audio
    assert audio.shape == (2, lpad + source.shape[1] + rpad)
    assert np.array_equal(audio[:, lpad : lpad + source.shape[1]], source)
    assert np.abs(audio).max() <= 1.0


def test_only_the_pads_are_regenerated(engine: AceStepEngine) -> None:
    """In latent space the source frames end exactly at the source latents; the pads are new."""
    job = engine.plan(request("extend", audio=noise_audio(2.0), left_extend_duration=1.0, right_extend_duration=1.0))
    with torch.no_grad():
        item = engine.runner.prepare(job)
        latents = engine.runner.denoise([job])
    assert latents is not None and item.source is not None and item.keep is not None
    keep = item.keep[0, :, 0]
    assert int(keep.sum()) == job.source_frames == 50
    assert torch.equal(latents[0, keep], item.source[0, keep])
    assert not torch.equal(latents[0, ~keep], item.source[0, ~keep])


def test_too_long_a_result_is_rejected(engine: AceStepEngine) -> None:
    source = np.zeros((2, 590 * SAMPLE_RATE), dtype=np.float32)
    with pytest.raises(TaskInputError, match="600 s"):
        engine.check(request("extend", audio=source, left_extend_duration=5.0, right_extend_duration=6.0))


def test_nothing_to_add_is_rejected(engine: AceStepEngine, source_audio: Audio) -> None:
    with pytest.raises(TaskInputError, match="more than 0 seconds"):
        engine.check(request("extend", audio=source_audio, left_extend_duration=0.0, right_extend_duration=0.0))


@pytest.mark.parametrize("field", ["left_extend_duration", "right_extend_duration"])
def test_negative_pads_are_rejected(engine: AceStepEngine, source_audio: Audio, field: str) -> None:
    with pytest.raises(TaskInputError, match=field):
        engine.check(request("extend", audio=source_audio, **{field: -1.0}))


def _tone(samples: int, offset: float = 0.0) -> Audio:
    t = np.arange(samples) / SAMPLE_RATE
    wave = 0.3 * np.sin(2 * np.pi * 110 * t) + offset
    return np.stack([wave, wave]).astype(np.float32)


def test_seams_are_blended_without_jumps() -> None:
    """The decoded source is off by a constant; the pads are pulled onto the original at each seam."""
    source_len, left, right, offset = 48_000, 9_600, 9_600, 0.2
    decoded = _tone(left + source_len + right)
    source = decoded[:, left : left + source_len] + np.float32(offset)
    out = splice_extension(decoded, source, source_offset=left, left=left, right=right)
    assert np.array_equal(out[:, left : left + source_len], source)
    step = float(np.abs(np.diff(decoded[0])).max())  # the largest sample-to-sample change of the tone
    assert abs(out[0, left] - out[0, left - 1]) <= 2 * step
    assert abs(out[0, left + source_len] - out[0, left + source_len - 1]) <= 2 * step
    # 40 ms away from each seam the pads are the decoded audio (gain-matched), untouched by the blend.
    gain = np.sqrt(np.mean(source.astype(np.float64) ** 2)) / np.sqrt(
        np.mean(decoded[:, left : left + source_len].astype(np.float64) ** 2)
    )
    far = left - SEAM_SAMPLES - 1
    assert out[0, far] == pytest.approx(decoded[0, far] * gain, abs=1e-6)


def test_quiet_pads_are_matched_to_the_source_loudness() -> None:
    decoded = _tone(3 * 48_000) * np.float32(0.1)
    source = _tone(48_000)
    out = splice_extension(decoded, source, source_offset=48_000, left=48_000, right=48_000)
    left_rms = float(np.sqrt(np.mean(out[:, : 48_000 - SEAM_SAMPLES] ** 2)))
    source_rms = float(np.sqrt(np.mean(source**2)))
    assert left_rms == pytest.approx(source_rms, rel=1e-3)

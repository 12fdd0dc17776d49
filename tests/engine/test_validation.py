"""Bad input fails before anything is allocated, with a sentence naming the field and the value."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from aceserve.domain.errors import TaskInputError
from aceserve.engine.engine import AceStepEngine
from aceserve.engine.types import SAMPLE_RATE
from tests.engine.helpers import noise_audio, request

AUDIO = noise_audio(1.0)


@pytest.mark.parametrize(
    ("task", "fields", "message"),
    [
        ("txt2audio", {"duration": 0.0}, "`duration` must be from 1 to 600 seconds, got 0.0"),
        ("txt2audio", {"duration": 600.5}, "got 600.5"),
        ("txt2audio", {"duration": float("nan")}, "`duration`"),
        ("txt2audio", {"seed": -1}, "`seed` must be an integer"),
        ("txt2audio", {"seed": 2**64}, "`seed`"),
        ("txt2audio", {"infer_steps": 0}, "`infer_steps` must be an integer from 1 to 200, got 0"),
        ("txt2audio", {"infer_steps": 201}, "`infer_steps`"),
        ("txt2audio", {"guidance_scale": -1.0}, "`guidance_scale` must be from 0 to 30, got -1.0"),
        ("audio2audio", {"audio": None}, "`style_audio` could not be decoded"),
        ("audio2audio", {"audio": AUDIO, "audio_cover_strength": 1.5}, "`audio_cover_strength` must be between 0"),
        ("audio2audio", {"audio": AUDIO, "duration": -3.0}, "`duration`"),
        ("edit", {"audio": np.zeros((2, 0), np.float32)}, "`audio` is empty"),
        ("edit", {"audio": np.zeros((3, 100), np.float32)}, "mono or stereo"),
        ("edit", {"audio": np.zeros((2, 100), np.int16)}, "floating-point"),
        ("edit", {"audio": np.full((2, 100), np.nan, np.float32)}, "NaN or infinite"),
        ("extend", {"audio": b"not audio"}, "`audio` could not be decoded"),
        ("extend", {"audio": np.zeros((2, 601 * SAMPLE_RATE), np.float32)}, "the longest input accepted is 600 s"),
    ],
)
def test_bad_input_is_a_task_input_error(
    engine: AceStepEngine, task: str, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(TaskInputError) as caught:
        engine.check(request(task, **fields))
    assert message in str(caught.value)


def test_batch_key_never_raises_and_keeps_bad_requests_apart(engine: AceStepEngine) -> None:
    bad = [request("txt2audio", duration=-1.0), request("txt2audio", duration=-1.0)]
    keys = [engine.batch_key(r) for r in bad]
    assert keys[0] != keys[1]
    assert engine.batch_key(request("txt2audio")) not in keys
    with pytest.raises(TaskInputError, match="duration"):
        engine.generate(bad[:1])


def test_generate_checks_every_request_before_running_any(engine: AceStepEngine) -> None:
    progress: list[float] = []
    with pytest.raises(TaskInputError, match="duration"):
        engine.generate([request("txt2audio"), request("txt2audio", duration=-1.0)], on_progress=progress.append)
    assert progress == []


def test_input_as_float64_mono_is_accepted(engine: AceStepEngine) -> None:
    (result,) = engine.generate([request("audio2audio", audio=AUDIO[0].astype(np.float64))])
    assert result.audio.shape == (2, AUDIO.shape[1])

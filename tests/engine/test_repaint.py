"""Section repaint: the span is regenerated, every sample outside it is the input's own."""

from __future__ import annotations

import numpy as np
import pytest

from aceserve.domain.errors import TaskInputError
from aceserve.engine.engine import AceStepEngine
from aceserve.engine.plan import EditMode
from aceserve.engine.types import SAMPLE_RATE
from tests.engine.helpers import noise_audio, request


@pytest.mark.parametrize(("start", "end"), [(1.0, 2.3), (0.0, 0.5), (2.5, None), (None, 1.13)])
def test_repaint_keeps_samples_outside_the_span_and_changes_those_inside(
    engine: AceStepEngine, start: float | None, end: float | None
) -> None:
    source = noise_audio(3.3, 2)
    req = request("edit", seed=5, audio=source, repaint_start=start, repaint_end=end, edit_lyrics="[verse]\nnew")
    job = engine.plan(req)
    assert job.edit_mode == EditMode.REPAINT
    (result,) = engine.generate([req])
    first = round((start or 0.0) * SAMPLE_RATE)
    last = source.shape[1] if end is None else round(end * SAMPLE_RATE)
    out = result.audio
    assert out.shape == source.shape and result.meta["pipeline_task"] == "repaint"
    assert np.array_equal(out[:, :first], source[:, :first])
    assert np.array_equal(out[:, last:], source[:, last:])
    inside = np.abs(out[:, first:last] - source[:, first:last]).max(axis=0) > 0
    assert inside.mean() > 0.99


def test_repaint_on_base_with_cfg_keeps_the_outside(base_engine: AceStepEngine) -> None:
    source = noise_audio(2.0, 3)
    (result,) = base_engine.generate([request("edit", audio=source, infer_steps=4, repaint_start=0.5, repaint_end=1.0)])
    assert np.array_equal(result.audio[:, :24_000], source[:, :24_000])
    assert np.array_equal(result.audio[:, 48_000:], source[:, 48_000:])
    assert not np.array_equal(result.audio[:, 24_000:48_000], source[:, 24_000:48_000])


def test_repaints_batch_and_match_their_solo_runs(engine: AceStepEngine) -> None:
    requests = [
        request("edit", seed=30 + i, audio=noise_audio(2.0, i), repaint_start=s, repaint_end=e)
        for i, (s, e) in enumerate([(0.2, 0.9), (1.0, 2.0), (0.0, 0.3)])
    ]
    assert len({engine.batch_key(r) for r in requests}) == 1
    alone = [engine.generate([r])[0].audio for r in requests]
    batched = engine.generate(requests)
    assert [r.meta["batch_size"] for r in batched] == [3, 3, 3]
    for a, b in zip(alone, batched, strict=True):
        assert float(np.abs(a - b.audio).max()) <= 1e-5


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"repaint_start": 1.0, "repaint_end": 4.0}, "`repaint_end` (4.0 s) must be within the input audio"),
        ({"repaint_start": 3.29}, "at least one latent frame"),
        ({"repaint_start": 1.0, "repaint_end": 1.02}, "at least one latent frame"),
        ({"repaint_start": -1.0}, "`repaint_start` must be 0 or more seconds"),
    ],
)
def test_bad_spans_are_refused(engine: AceStepEngine, fields: dict[str, float], message: str) -> None:
    with pytest.raises(TaskInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        engine.check(request("edit", audio=noise_audio(3.3), **fields))

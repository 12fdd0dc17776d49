"""Progress and cancellation through the pipeline's step-end callback and interrupt flag."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from aceserve.domain.errors import TaskCancelled
from aceserve.engine.engine import AceStepEngine
from aceserve.engine.types import Audio
from tests.engine.helpers import request


class Calls:
    """Counts DiT forward passes and VAE decodes while installed."""

    def __init__(self, engine: AceStepEngine) -> None:
        self.steps = 0
        self.decodes = 0
        pipe = engine.pipeline
        self._hook = pipe.transformer.register_forward_pre_hook(self._step)
        self._vae = pipe.vae
        self._decode = pipe.vae.decode

        def counting_decode(*args: Any, **kwargs: Any) -> Any:
            self.decodes += 1
            return self._decode(*args, **kwargs)

        pipe.vae.decode = counting_decode

    def _step(self, *_: object) -> None:
        self.steps += 1

    def remove(self) -> None:
        self._hook.remove()
        del self._vae.decode


@pytest.fixture
def calls(engine: AceStepEngine) -> Iterator[Calls]:
    counter = Calls(engine)
    yield counter
    counter.remove()


def test_progress_is_monotonic_and_ends_at_one(engine: AceStepEngine, source_audio: Audio) -> None:
    seen: list[float] = []
    requests = [
        request("txt2audio", seed=1),
        request("txt2audio", seed=2),
        request("extend", audio=source_audio),
        request("edit", audio=source_audio),
    ]
    engine.generate(requests, on_progress=seen.append)
    assert seen[-1] == 1.0
    assert all(0.0 < p <= 1.0 for p in seen)
    assert all(a < b for a, b in itertools.pairwise(seen))
    # every denoising step of the three batches (8 + 8 + 4 FlowEdit steps) and every decode is reported
    assert len(seen) == (8 + 8 + 4) + len(requests) + 1


@pytest.mark.parametrize("stop_after", [1, 3, 7])
def test_cancel_mid_run_stops_within_one_step(engine: AceStepEngine, calls: Calls, stop_after: int) -> None:
    polls = 0

    def should_cancel() -> bool:
        nonlocal polls
        polls += 1
        return polls > stop_after  # the first poll is before the batch starts

    with pytest.raises(TaskCancelled):
        engine.generate([request("txt2audio")], should_cancel=should_cancel)
    assert calls.steps == stop_after  # the step during which it was cancelled is the last one
    assert calls.decodes == 0  # partial latents are discarded, never decoded


def test_cancel_before_start_runs_nothing(engine: AceStepEngine, calls: Calls) -> None:
    with pytest.raises(TaskCancelled):
        engine.generate([request("txt2audio")], should_cancel=lambda: True)
    assert calls.steps == 0 and calls.decodes == 0


def test_cancel_during_flowedit(base_engine: AceStepEngine, source_audio: Audio) -> None:
    polls = 0

    def should_cancel() -> bool:
        nonlocal polls
        polls += 1
        return polls > 2

    calls = Calls(base_engine)  # FlowEdit runs on base and sft
    try:
        with pytest.raises(TaskCancelled):
            base_engine.generate(
                [request("edit", audio=source_audio, edit_n_min=0.0, guidance_scale=1.0)], should_cancel=should_cancel
            )
        assert calls.steps == 2 * 2  # two FlowEdit steps, each a source and a target velocity
        assert calls.decodes == 0
    finally:
        calls.remove()


def test_engine_runs_normally_after_a_cancel(engine: AceStepEngine) -> None:
    with pytest.raises(TaskCancelled):
        engine.generate([request("txt2audio", seed=5)], should_cancel=iter([False, False, True]).__next__)
    progress: list[float] = []
    (result,) = engine.generate([request("txt2audio", seed=5)], on_progress=progress.append)
    assert progress[-1] == 1.0
    assert np.array_equal(result.audio, engine.generate([request("txt2audio", seed=5)])[0].audio)

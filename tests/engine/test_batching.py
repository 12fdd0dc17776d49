"""Batching: compatible tasks share one DiT call, and no task's audio depends on its batch-mates."""

from __future__ import annotations

import numpy as np
import pytest

from aceserve.engine.engine import AceStepEngine
from aceserve.engine.types import Audio, GenerationRequest
from tests.engine.helpers import noise_audio, request

TOLERANCE = 1e-5  # float rounding of batched vs single matrix products; measured ~1e-7

# Prompts and lyrics of very different token lengths: the stock pipeline pads them to a common
# length and lets the padding reach the result; ours must not.
PROMPTS = [
    ("lo-fi", "[inst]"),
    ("an epic cinematic orchestral piece with soaring strings, thunderous drums and a choir", "[inst]"),
    ("punk", "[verse]\nwe run all night through the burning streets\n[chorus]\nno sleep no sleep tonight"),
]


def _alone_and_batched(engine: AceStepEngine, requests: list[GenerationRequest]) -> tuple[list[Audio], list[Audio]]:
    alone = [engine.generate([r])[0].audio for r in requests]
    batched = engine.generate(requests)
    assert all(result.meta["batch_size"] == len(requests) for result in batched)
    return alone, [result.audio for result in batched]


def _assert_same(alone: list[Audio], batched: list[Audio]) -> None:
    for a, b in zip(alone, batched, strict=True):
        assert a.shape == b.shape
        assert float(np.abs(a - b).max()) <= TOLERANCE


def test_three_txt2audio_tasks_batched_match_their_solo_runs(engine: AceStepEngine) -> None:
    requests = [request("txt2audio", seed=10 + i, style_prompt=p, lyrics=lyr) for i, (p, lyr) in enumerate(PROMPTS)]
    assert len({engine.batch_key(r) for r in requests}) == 1
    _assert_same(*_alone_and_batched(engine, requests))


def test_audio2audio_batch_matches_solo_runs(engine: AceStepEngine) -> None:
    requests = [
        request("audio2audio", seed=20 + i, style_prompt=p, lyrics=lyr, audio=noise_audio(2.0, seed=i))
        for i, (p, lyr) in enumerate(PROMPTS)
    ]
    _assert_same(*_alone_and_batched(engine, requests))


def test_edit_batch_matches_solo_runs(engine: AceStepEngine) -> None:
    requests = [
        request("edit", seed=30 + i, style_prompt=p, lyrics=lyr, edit_style_prompt=p[::-1], audio=noise_audio(2.0, i))
        for i, (p, lyr) in enumerate(PROMPTS)
    ]
    _assert_same(*_alone_and_batched(engine, requests))


def test_extend_batch_with_different_splits_matches_solo_runs(engine: AceStepEngine) -> None:
    # Same total length, different left/right splits and sources: one batch, per-item masks.
    requests = [
        request("extend", seed=40, audio=noise_audio(2.0, 1), left_extend_duration=1.0, right_extend_duration=0.0),
        request("extend", seed=41, audio=noise_audio(2.0, 2), left_extend_duration=0.0, right_extend_duration=1.0),
        request("extend", seed=42, audio=noise_audio(2.0, 3), left_extend_duration=0.4, right_extend_duration=0.6),
    ]
    assert len({engine.batch_key(r) for r in requests}) == 1
    _assert_same(*_alone_and_batched(engine, requests))


def test_cfg_batch_with_mixed_negative_prompts_matches_solo_runs(base_engine: AceStepEngine) -> None:
    requests = [
        request("txt2audio", seed=50 + i, infer_steps=4, style_prompt=p, lyrics=lyr, negative_style_prompt=neg)
        for i, ((p, lyr), neg) in enumerate(
            zip(PROMPTS, ["", "distorted harsh noise with clipping", "mud"], strict=True)
        )
    ]
    _assert_same(*_alone_and_batched(base_engine, requests))


def test_incompatible_tasks_run_in_separate_batches_in_request_order(base_engine: AceStepEngine) -> None:
    engine = base_engine  # base honours `infer_steps` (turbo always runs 8)
    requests = [
        request("txt2audio", seed=1, duration=1.0),
        request("txt2audio", seed=2, duration=11.0),
        request("txt2audio", seed=3, duration=1.0),
        request("txt2audio", seed=4, duration=1.0, infer_steps=4),
    ]
    keys = [engine.batch_key(r) for r in requests]
    assert keys[0] == keys[2] and len(set(keys)) == 3
    results = engine.generate(requests)
    assert [r.meta["seed"] for r in results] == [1, 2, 3, 4]
    assert [r.meta["batch_size"] for r in results] == [2, 1, 2, 1]
    assert [r.audio.shape[1] for r in results] == [48_000, 528_000, 48_000, 48_000]


def test_short_tasks_of_different_lengths_share_the_models_minimum_and_are_cut_each_to_its_own(
    engine: AceStepEngine,
) -> None:
    requests = [request("txt2audio", seed=1, duration=1.0), request("txt2audio", seed=2, duration=2.5)]
    assert engine.batch_key(requests[0]) == engine.batch_key(requests[1])
    results = engine.generate(requests)
    assert [r.meta["batch_size"] for r in results] == [2, 2]
    assert [r.audio.shape[1] for r in results] == [48_000, 120_000]


def test_batches_are_cut_at_max_batch_size(engine: AceStepEngine) -> None:
    requests = [request("txt2audio", seed=s, duration=1.0) for s in range(6)]
    results = engine.generate(requests)
    assert [r.meta["batch_size"] for r in results] == [4, 4, 4, 4, 2, 2]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ({"cover_noise_strength": 0.0}, {"cover_noise_strength": 0.5}),
        ({"duration": 1.0}, {"duration": 1.5}),
    ],
)
def test_batch_key_separates_what_cannot_share_a_call(
    engine: AceStepEngine, a: dict[str, float], b: dict[str, float]
) -> None:
    source = noise_audio(2.0)
    assert engine.batch_key(request("audio2audio", audio=source, **a)) != engine.batch_key(
        request("audio2audio", audio=source, **b)
    )

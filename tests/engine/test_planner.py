"""The 5 Hz LM planner on the tiny checkpoint's tiny LM: the real path, random weights.

Random weights write nonsense, so these tests check what constrained decoding guarantees (every
plan well formed, codes in range and exactly as many as the task needs), that the user's metadata
is kept, that plans and audio are reproducible and independent of batch-mates, and that
``thinking: false`` is today's output bit for bit.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from aceserve.domain.music import KEY_SCALES, MAX_BPM, MIN_BPM, TIME_SIGNATURES, VOCAL_LANGUAGES
from aceserve.engine.engine import AceStepEngine
from aceserve.engine.planner.decode import Sampling
from aceserve.engine.planner.parse import Metadata
from aceserve.engine.planner.planner import PlanOutcome, PlanRequest
from aceserve.engine.planning import apply_plan
from aceserve.engine.types import GenerationResult
from tests.engine.helpers import request

MIN_FRAMES = 250  # a 2 s task is generated at the model's 10 s minimum: 250 latent frames, 50 codes


def assert_well_formed(plan: dict[str, object]) -> None:
    assert isinstance(plan["bpm"], int) and MIN_BPM <= plan["bpm"] <= MAX_BPM
    assert plan["key_scale"] in KEY_SCALES
    assert plan["time_signature"] in TIME_SIGNATURES
    assert plan["vocal_language"] in VOCAL_LANGUAGES
    assert isinstance(plan["caption"], str) and plan["caption"].strip() and "\n" not in plan["caption"]


def content(result: GenerationResult) -> dict[str, object]:
    """The plan without its wall-clock cost."""
    plan = result.meta["plan"]
    assert isinstance(plan, dict)
    return {key: value for key, value in plan.items() if key != "lm_seconds"}


def planned(engine: AceStepEngine, **fields: object) -> GenerationResult:
    (result,) = engine.generate([request("txt2audio", **fields)])
    return result


def test_thinking_plans_then_renders_from_the_codes(planner_engine: AceStepEngine) -> None:
    result = planned(planner_engine, seed=11, lyrics="[verse] hello rain")
    plan = result.meta["plan"]
    assert isinstance(plan, dict)
    assert_well_formed(plan)
    assert plan["audio_codes"] == math.ceil(MIN_FRAMES / 5) and plan["duration"] == 10
    assert result.meta["pipeline_task"] == "cover" and result.audio.shape == (2, 96_000)
    assert result.notes == ()


def test_given_metadata_is_kept_and_what_is_missing_is_planned(planner_engine: AceStepEngine) -> None:
    partial = planned(planner_engine, seed=4, bpm=144, vocal_language="ko").meta["plan"]
    assert isinstance(partial, dict)
    assert_well_formed(partial)
    assert partial["bpm"] == 144 and partial["vocal_language"] == "ko"
    full = planned(planner_engine, seed=4, bpm=70, key_scale="D minor", time_signature=6, style_prompt="dark folk")
    plan = full.meta["plan"]
    assert isinstance(plan, dict)
    # bpm, key and time signature given: no chain of thought (as upstream), the caption stays the user's
    assert (plan["bpm"], plan["key_scale"], plan["time_signature"], plan["caption"]) == (70, "D minor", 6, "dark folk")
    assert plan["audio_codes"] == 50


def test_same_seed_same_plan_and_audio(planner_engine: AceStepEngine) -> None:
    first, second = (planned(planner_engine, seed=21) for _ in range(2))
    assert content(first) == content(second)
    assert np.array_equal(first.audio, second.audio)
    other = planned(planner_engine, seed=22)
    assert content(other) != content(first)


def test_a_batched_plan_equals_its_solo_plan(planner_engine: AceStepEngine) -> None:
    requests = [
        request("txt2audio", seed=31, style_prompt="lofi hip hop", lyrics="[verse] one"),
        request("txt2audio", seed=33, style_prompt="punk", duration=3.0, lm_temperature=1.2, lm_cfg_scale=1.0),
    ]
    batched = planner_engine.generate(requests)
    for req, together in zip(requests, batched, strict=True):
        (alone,) = planner_engine.generate([req])
        assert content(together) == content(alone)
        np.testing.assert_allclose(together.audio, alone.audio, atol=1e-5)


def test_thinking_false_is_todays_output_bit_for_bit(planner_engine: AceStepEngine, engine: AceStepEngine) -> None:
    fields = {"seed": 5, "style_prompt": "synthwave", "lyrics": "[verse] neon"}
    with_lm = planned(planner_engine, thinking=False, **fields)
    without_lm = planned(engine, **fields)
    assert "plan" not in with_lm.meta
    assert np.array_equal(with_lm.audio, without_lm.audio)


def test_a_description_writes_caption_and_lyrics(planner_engine: AceStepEngine) -> None:
    result = planned(planner_engine, seed=8, description="a melancholic indie song about leaving home", thinking=False)
    plan = result.meta["plan"]
    assert isinstance(plan, dict)
    assert_well_formed(plan)
    assert isinstance(plan["lyrics"], str) and plan["lyrics"].strip()
    assert plan["audio_codes"] == 0 and result.meta["pipeline_task"] == "text2music"


def test_constrained_decoding_never_writes_a_malformed_plan(planner_engine: AceStepEngine) -> None:
    """The wildest sampling random weights allow: every plan still parses, every code is in range."""
    planner = planner_engine.planner
    assert planner is not None
    wild = Sampling(temperature=2.0, top_k=0, top_p=1.0, cfg_scale=3.0)
    requests = [
        PlanRequest(seed=seed, caption="x", lyrics="[Instrumental]", seconds=10, codes=25, sampling=wild)
        for seed in range(4)
    ]
    for outcome in planner.plan(requests):
        assert outcome.plan is not None, outcome.error
        found = outcome.plan.metadata
        assert found.bpm is not None and MIN_BPM <= found.bpm <= MAX_BPM
        assert found.key_scale in KEY_SCALES and found.language in VOCAL_LANGUAGES
        assert found.time_signature in TIME_SIGNATURES
        assert len(outcome.plan.codes) == 25 and all(0 <= code < planner.codebook_size for code in outcome.plan.codes)


def test_a_plan_that_cannot_be_used_leaves_the_task_dit_only_and_says_so(planner_engine: AceStepEngine) -> None:
    job = planner_engine.plan(request("txt2audio", seed=1))
    kept = apply_plan(job, PlanOutcome(plan=None, error="chain of thought: the LM wrote an empty caption"))
    assert kept.job == job and kept.meta is None
    assert kept.notes == (
        "The 5 Hz LM planner's output could not be used (chain of thought: the LM wrote an empty caption); "
        "this task ran without a plan (DiT only).",
    )


def test_metadata_fields_map_to_the_thoughts_names() -> None:
    found = Metadata(bpm=90, key_scale="A minor", time_signature=3, language="en", caption="c", duration=10)
    assert found.fields() == {
        "bpm": 90,
        "caption": "c",
        "duration": 10,
        "keyscale": "A minor",
        "language": "en",
        "timesignature": 3,
    }


@pytest.mark.parametrize("task_type", ["audio2audio"])
def test_other_task_types_never_plan(planner_engine: AceStepEngine, task_type: str, source_audio: object) -> None:
    (result,) = planner_engine.generate([request(task_type, audio=source_audio, duration=1.0)])
    assert "plan" not in result.meta and result.notes == ()


def test_planning_reports_progress_before_the_dit_runs(planner_engine: AceStepEngine) -> None:
    seen: list[float] = []
    planner_engine.generate([request("txt2audio", seed=31)], on_progress=seen.append)
    planning = [value for value in seen if value < 0.5]
    # the LM writes 50 codes (plus a chain of thought): many reports inside planning's half of the bar
    assert len(planning) >= 20, seen
    assert seen == sorted(seen) and len(set(seen)) == len(seen) and seen[-1] == 1.0
    assert any(value > 0.4 for value in planning), "the codes phase fills planning's share"


def test_a_task_without_planning_starts_its_progress_at_the_dit(planner_engine: AceStepEngine) -> None:
    seen: list[float] = []
    planner_engine.generate([request("txt2audio", seed=31, thinking=False)], on_progress=seen.append)
    # turbo: 8 steps and one decode, each a ninth of the whole bar (the last held below 1 until the end)
    assert seen[:8] == pytest.approx([n / 9 for n in range(1, 9)]) and seen[8:] == [0.999, 1.0], seen

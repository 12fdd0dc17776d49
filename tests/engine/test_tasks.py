"""Every PiAPI task type runs on the tiny checkpoint and yields audio of the promised length."""

from __future__ import annotations

import numpy as np
import pytest

from aceserve.domain.states import TaskType
from aceserve.engine.engine import AceStepEngine
from aceserve.engine.plan import MODEL_MIN_SECONDS, text_condition
from aceserve.engine.types import SAMPLE_RATE, Audio, GenerationRequest
from tests.engine.helpers import request


def _one(engine: AceStepEngine, req: GenerationRequest) -> Audio:
    (result,) = engine.generate([req])
    assert result.sample_rate == SAMPLE_RATE
    assert result.audio.dtype == np.float32
    assert result.audio.ndim == 2 and result.audio.shape[0] == 2
    assert result.audio.flags.c_contiguous
    assert np.isfinite(result.audio).all()
    assert result.meta["seed"] == req.seed
    return result.audio


@pytest.mark.parametrize(("seconds", "samples"), [(2.0, 96_000), (1.23456, 59_259), (1.0, 48_000), (10.5, 504_000)])
def test_txt2audio_is_exactly_the_duration(engine: AceStepEngine, seconds: float, samples: int) -> None:
    audio = _one(engine, request("txt2audio", duration=seconds))
    assert audio.shape == (2, samples)
    assert 0.5 < float(np.abs(audio).max()) <= 1.0  # normalized to -1 dBFS


def test_txt2audio_below_the_models_minimum_is_the_start_of_a_minimum_length_render(engine: AceStepEngine) -> None:
    short = _one(engine, request("txt2audio", seed=3, duration=3.0))
    full = _one(engine, request("txt2audio", seed=3, duration=MODEL_MIN_SECONDS))
    start = full[:, : short.shape[1]]
    assert short.shape == (2, 144_000)
    # the same render, cut exactly; each output is normalized to its own peak
    np.testing.assert_allclose(short / np.abs(short).max(), start / np.abs(start).max(), atol=1e-5)


def test_audio2audio_defaults_to_the_input_length(engine: AceStepEngine, source_audio: Audio) -> None:
    audio = _one(engine, request("audio2audio", audio=source_audio))
    assert audio.shape == source_audio.shape


@pytest.mark.parametrize("seconds", [1.0, 5.0])
def test_audio2audio_takes_a_duration(engine: AceStepEngine, source_audio: Audio, seconds: float) -> None:
    audio = _one(engine, request("audio2audio", audio=source_audio, duration=seconds))
    assert audio.shape == (2, round(seconds * SAMPLE_RATE))


def test_audio2audio_with_cover_strength_blends(engine: AceStepEngine, source_audio: Audio) -> None:
    full = _one(engine, request("audio2audio", audio=source_audio))
    blended = _one(engine, request("audio2audio", audio=source_audio, audio_cover_strength=0.4))
    assert blended.shape == full.shape
    assert not np.array_equal(full, blended)


def test_edit_keeps_the_input_length(engine: AceStepEngine, source_audio: Audio) -> None:
    audio = _one(engine, request("edit", audio=source_audio, lyrics="[verse]\nold words", edit_lyrics="new words"))
    assert audio.shape == source_audio.shape


@pytest.mark.parametrize(("left", "right"), [(0.0, 1.0), (1.5, 0.0), (0.7, 2.25)])
def test_extend_is_left_plus_source_plus_right(
    engine: AceStepEngine, source_audio: Audio, left: float, right: float
) -> None:
    audio = _one(engine, request("extend", audio=source_audio, left_extend_duration=left, right_extend_duration=right))
    assert audio.shape == (2, round(left * SAMPLE_RATE) + source_audio.shape[1] + round(right * SAMPLE_RATE))


def test_mono_input_is_used_on_both_channels(engine: AceStepEngine, source_audio: Audio) -> None:
    audio = _one(engine, request("extend", audio=source_audio[0], left_extend_duration=0.0))
    assert np.array_equal(audio[:, : source_audio.shape[1]], np.stack([source_audio[0]] * 2))


@pytest.mark.parametrize("lyrics", ["[inst]", "[Instrumental]", "  [INST] ", ""])
def test_instrumental_tags_become_ace_step_instrumental(lyrics: str) -> None:
    condition = text_condition("ambient", lyrics)
    assert condition.lyrics == "[Instrumental]"
    assert condition.language == "unknown"


def test_lyrics_pass_through() -> None:
    assert text_condition("pop", "[verse]\nla la").lyrics == "[verse]\nla la"


def test_instrumental_spellings_give_the_same_audio(engine: AceStepEngine) -> None:
    a = _one(engine, request("txt2audio", lyrics="[inst]"))
    b = _one(engine, request("txt2audio", lyrics=""))
    c = _one(engine, request("txt2audio", lyrics="[verse]\nsinging now"))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_meta_reports_the_sampling(base_engine: AceStepEngine, source_audio: Audio) -> None:
    (result,) = base_engine.generate([request("edit", audio=source_audio, seed=123, infer_steps=10)])
    meta = result.meta
    assert meta["seed"] == 123
    assert meta["variant"] == "base"
    assert meta["steps"] == 10
    assert meta["pipeline_task"] == "flowedit"
    assert (meta["edit_n_min"], meta["edit_n_max"]) == (0.6, 1.0)
    assert meta["edit_steps"] == [6, 10]


def test_turbo_ignores_guidance_and_negative_prompt(engine: AceStepEngine) -> None:
    plain = engine.generate([request("txt2audio")])[0]
    pushed = engine.generate([request("txt2audio", guidance_scale=9.0, negative_style_prompt="noise")])[0]
    assert np.array_equal(plain.audio, pushed.audio)
    assert pushed.meta["guidance_scale"] == 1.0
    assert pushed.meta["negative_prompt"] == "ignored"


def test_base_variant_uses_the_negative_prompt(base_engine: AceStepEngine) -> None:
    req = request("txt2audio", infer_steps=4)
    plain = base_engine.generate([req])[0]
    negative = base_engine.generate([request("txt2audio", infer_steps=4, negative_style_prompt="harsh noise")])[0]
    no_cfg = base_engine.generate([request("txt2audio", infer_steps=4, guidance_scale=1.0)])[0]
    assert plain.meta["guidance_scale"] == 7.0 and plain.meta["negative_prompt"] == "none"
    assert negative.meta["negative_prompt"] == "used"
    assert not np.array_equal(plain.audio, negative.audio)
    assert not np.array_equal(plain.audio, no_cfg.audio)


def test_engine_info(engine: AceStepEngine, base_engine: AceStepEngine) -> None:
    assert engine.info.variant == "turbo"
    assert (engine.info.default_steps, engine.info.default_guidance) == (8, 1.0)
    assert engine.info.device == "cpu" and engine.info.dtype == "float32"
    assert engine.info.max_batch_size == 4
    assert base_engine.info.variant == "base"
    assert (base_engine.info.default_steps, base_engine.info.default_guidance) == (32, 7.0)


def test_every_task_type_is_covered() -> None:
    covered = {TaskType.TXT2AUDIO, TaskType.AUDIO2AUDIO, TaskType.EDIT, TaskType.EXTEND}
    assert covered == set(TaskType)

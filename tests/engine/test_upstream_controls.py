"""Controls that follow ACE-Step 1.5: turbo's fixed schedule, cover strength as a condition switch,
``cover_noise_strength``, FlowEdit on base/sft only (turbo edits run as a cover), ``edit_n_avg``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aceserve.engine.conditioning import Cond, instruction_for
from aceserve.engine.engine import AceStepEngine
from aceserve.engine.plan import EditMode, nearest_step
from aceserve.engine.sampler import Denoiser, Guidance, sigma_schedule
from aceserve.engine.types import Audio
from tests.engine.helpers import noise_audio, request


@pytest.mark.parametrize("steps", [1, 27, 100])
def test_turbo_ignores_infer_steps_and_says_so(engine: AceStepEngine, steps: int) -> None:
    reference = engine.generate([request("txt2audio", seed=3)])[0]
    given = engine.generate([request("txt2audio", seed=3, infer_steps=steps)])[0]
    assert np.array_equal(given.audio, reference.audio)
    assert given.meta["steps"] == 8
    assert reference.notes == ()
    assert len(given.notes) == 1 and f"`infer_steps` {steps} was ignored" in given.notes[0]


def test_turbo_at_eight_steps_logs_nothing(engine: AceStepEngine) -> None:
    assert engine.generate([request("txt2audio", seed=3, infer_steps=8)])[0].notes == ()


def test_base_defaults_to_32_steps_and_honours_infer_steps(base_engine: AceStepEngine) -> None:
    assert base_engine.info.default_steps == 32
    assert base_engine.plan(request("txt2audio")).steps == 32
    assert base_engine.plan(request("txt2audio", infer_steps=12)).steps == 12


def _upstream_order_cover(engine: AceStepEngine, source: Audio, strength: float, seed: int) -> np.ndarray:
    """A cover run in ACE-Step 1.5's order, written out step by step: the cover condition and the
    source's semantic context for the first int(N * s) steps, then the text2music condition with the
    silence context, from the same seeded noise (no CFG: turbo)."""
    job = engine.plan(request("audio2audio", seed=seed, audio=source, audio_cover_strength=1.0))
    runner = engine.runner
    with torch.no_grad():
        generator = torch.Generator().manual_seed(seed)
        latents = runner._encode_audio(job, generator)[:, : job.frames]
        noise = runner._noise(generator, job.frames)
        silence = runner._silence(job.frames)
        ones = torch.ones_like(silence)
        cover = (
            runner._encode(job.condition, instruction_for("cover"), job),
            torch.cat([runner._semantic(latents, job.frames), ones], -1),
        )
        text = (runner._encode(job.condition, instruction_for("text2music"), job), torch.cat([silence, ones], -1))
        den = Denoiser(engine.pipeline, runner.masks, runner.device)
        sigmas = sigma_schedule(job.steps, job.sampling.shift)
        switch = int(job.steps * strength)
        x = noise
        for i in range(job.steps):
            hidden, context = cover if i < switch else text
            v = den.guided(x, float(sigmas[i]), Cond(hidden), context, Guidance(), None)
            x = x + (sigmas[i + 1] - sigmas[i]) * v
        decoded = runner.decode(x)
    return runner.finish(job, decoded)


@pytest.mark.parametrize("strength", [0.5, 0.0])
def test_cover_strength_matches_the_upstream_order(engine: AceStepEngine, strength: float) -> None:
    source = noise_audio(2.0, 4)
    ours = engine.generate([request("audio2audio", seed=11, audio=source, audio_cover_strength=strength)])[0]
    reference = _upstream_order_cover(engine, source, strength, seed=11)
    assert ours.meta["cover_steps"] == int(8 * strength)
    np.testing.assert_allclose(ours.audio, reference, atol=1e-6, rtol=0)
    full = engine.generate([request("audio2audio", seed=11, audio=source)])[0]
    assert not np.array_equal(full.audio, ours.audio)


def test_covers_of_different_strengths_batch_and_match_their_solo_runs(engine: AceStepEngine) -> None:
    requests = [
        request("audio2audio", seed=20 + i, audio=noise_audio(2.0, i), audio_cover_strength=s)
        for i, s in enumerate([1.0, 0.5, 0.25])
    ]
    assert len({engine.batch_key(r) for r in requests}) == 1
    alone = [engine.generate([r])[0].audio for r in requests]
    batched = engine.generate(requests)
    assert [r.meta["batch_size"] for r in batched] == [3, 3, 3]
    for a, b in zip(alone, batched, strict=True):
        assert float(np.abs(a - b.audio).max()) <= 1e-5


def test_cover_noise_strength_starts_from_the_noised_source(engine: AceStepEngine) -> None:
    source = noise_audio(2.0, 5)
    job = engine.plan(request("audio2audio", audio=source, cover_noise_strength=0.5))
    # shift-3 turbo levels 1, .955, .9, .833, .75, .643, .5, .3: 0.5 is step 6, leaving 2 steps
    assert job.start_step == nearest_step(8, 3.0, 0.5) == 6
    assert job.cover_steps == 2
    plain = engine.generate([request("audio2audio", seed=2, audio=source)])[0]
    noised = engine.generate([request("audio2audio", seed=2, audio=source, cover_noise_strength=0.5)])[0]
    assert noised.meta["start_step"] == 6
    assert not np.array_equal(plain.audio, noised.audio)


def test_turbo_edit_runs_a_cover_and_says_so(engine: AceStepEngine, source_audio: Audio) -> None:
    req = request("edit", audio=source_audio, edit_n_min=0.5)
    job = engine.plan(req)
    assert job.edit_mode == EditMode.COVER and job.start_step == 4
    result = engine.generate([req])[0]
    assert result.meta["pipeline_task"] == "cover"
    assert result.audio.shape == source_audio.shape
    assert len(result.notes) == 1 and "runs as a cover" in result.notes[0]


def test_base_edit_runs_flowedit_with_n_avg(base_engine: AceStepEngine, source_audio: Audio) -> None:
    fields = {"audio": source_audio, "infer_steps": 4, "edit_n_min": 0.25, "edit_lyrics": "[verse]\nnew"}
    one = base_engine.generate([request("edit", **fields)])[0]
    three = base_engine.generate([request("edit", edit_n_avg=3, **fields)])[0]
    assert one.meta["pipeline_task"] == "flowedit" and three.meta["edit_n_avg"] == 3
    assert one.notes == ()
    assert not np.array_equal(one.audio, three.audio)
    again = base_engine.generate([request("edit", edit_n_avg=3, **fields)])[0]
    assert np.array_equal(three.audio, again.audio)

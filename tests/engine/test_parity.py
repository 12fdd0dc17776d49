"""Our sampling loop reproduces ``AceStepPipeline.__call__`` for what both can do (solo runs)."""

from __future__ import annotations

import pytest
import torch

from aceserve.engine.engine import AceStepEngine
from aceserve.engine.plan import MODEL_MIN_SECONDS
from tests.engine.helpers import request

TOLERANCE = 1e-5


def _pipeline_latents(engine: AceStepEngine, seed: int, steps: int, guidance: float) -> torch.Tensor:
    latents: torch.Tensor = engine.pipeline(
        prompt="warm analog synthwave",
        lyrics="[Instrumental]",
        vocal_language="unknown",
        audio_duration=MODEL_MIN_SECONDS,  # the helper's 2 s task is generated at the model's minimum
        num_inference_steps=steps,
        guidance_scale=guidance,
        shift=3.0,
        generator=torch.Generator().manual_seed(seed),
        output_type="latent",
    ).audios
    return latents


@pytest.mark.parametrize("variant", ["turbo", "base"])
def test_txt2audio_latents_match_the_diffusers_pipeline(
    engine: AceStepEngine, base_engine: AceStepEngine, variant: str
) -> None:
    eng = engine if variant == "turbo" else base_engine
    steps = 8 if variant == "turbo" else 6
    job = eng.plan(
        request("txt2audio", seed=99, style_prompt="warm analog synthwave", lyrics="[inst]", infer_steps=steps)
    )
    with torch.no_grad():
        ours = eng.runner.denoise([job])
        theirs = _pipeline_latents(eng, 99, steps, eng.info.default_guidance)
    assert ours is not None
    assert ours.shape == theirs.shape
    assert float((ours - theirs.float()).abs().max()) <= TOLERANCE


def test_given_metadata_conditions_the_dit_as_the_pipeline_writes_it(engine: AceStepEngine) -> None:
    """bpm, key, time signature and vocal language reach the prompt exactly as ``AceStepPipeline`` formats them."""
    metas = {"bpm": 96, "key_scale": "F# minor", "time_signature": 3, "vocal_language": "ja"}
    job = engine.plan(request("txt2audio", seed=5, style_prompt="warm analog synthwave", lyrics="[verse] hi", **metas))
    plain = engine.plan(request("txt2audio", seed=5, style_prompt="warm analog synthwave", lyrics="[verse] hi"))
    with torch.no_grad():
        ours = engine.runner.denoise([job])
        without = engine.runner.denoise([plain])
        theirs: torch.Tensor = engine.pipeline(
            prompt="warm analog synthwave",
            lyrics="[verse] hi",
            vocal_language="ja",
            bpm=96,
            keyscale="F# minor",
            timesignature="3",
            audio_duration=MODEL_MIN_SECONDS,
            num_inference_steps=8,
            shift=3.0,
            generator=torch.Generator().manual_seed(5),
            output_type="latent",
        ).audios
    assert ours is not None and without is not None
    assert float((ours - theirs.float()).abs().max()) <= TOLERANCE
    assert float((ours - without).abs().max()) > 1e-3  # the metadata is in the condition, not ignored

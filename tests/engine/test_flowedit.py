"""FlowEdit (base and sft): identical source and target conditions give the source latents back.

Tolerance: none. The edit only ever adds ``(t_next - t) * (v_tar - v_src)`` to ``z = x_src``, and with
identical conditions both velocities come from identical inputs through identical calls, so the
difference is exactly zero on deterministic kernels (CPU). A GPU whose kernels are not run-to-run
deterministic could differ by float rounding (~1e-6 relative); these tests run on CPU and demand 0.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aceserve.domain.errors import TaskInputError
from aceserve.engine.engine import AceStepEngine
from aceserve.engine.types import Audio
from tests.engine.helpers import request


@pytest.fixture(scope="module")
def engine(base_engine: AceStepEngine) -> AceStepEngine:
    """FlowEdit runs on base and sft (ACE-Step 1.5 offers it there only; turbo edits run as a cover)."""
    return base_engine


def _edit_latents(engine: AceStepEngine, **fields: object) -> tuple[torch.Tensor, torch.Tensor]:
    job = engine.plan(request("edit", **fields))
    with torch.no_grad():
        source = engine.runner.prepare(job).source
        edited = engine.runner.denoise([job])
    assert source is not None and edited is not None
    return source, edited


@pytest.mark.parametrize("n_min", [0.0, 0.6])
def test_identical_conditions_return_the_source_latents(
    engine: AceStepEngine, source_audio: Audio, n_min: float
) -> None:
    source, edited = _edit_latents(
        engine,
        audio=source_audio,
        style_prompt="dream pop",
        lyrics="[verse]\nfloating",
        edit_style_prompt="dream pop",
        edit_lyrics="[verse]\nfloating",
        edit_n_min=n_min,
        edit_n_max=1.0,
    )
    assert torch.equal(edited, source)


def test_identity_holds_with_cfg(base_engine: AceStepEngine, source_audio: Audio) -> None:
    source, edited = _edit_latents(
        base_engine,
        audio=source_audio,
        infer_steps=6,
        edit_style_prompt="upbeat synth pop",  # same as style_prompt
        lyrics="[inst]",
        edit_lyrics="[instrumental]",  # same instrumental form
        edit_n_min=0.0,
    )
    assert torch.equal(edited, source)


def test_identity_holds_in_a_batch(engine: AceStepEngine, source_audio: Audio) -> None:
    same = request("edit", seed=1, audio=source_audio, edit_style_prompt="upbeat synth pop", edit_n_min=0.0)
    other = request("edit", seed=2, audio=source_audio, style_prompt="a much longer description " * 4)
    jobs = [engine.plan(same), engine.plan(other)]
    with torch.no_grad():
        source = engine.runner.prepare(jobs[0]).source
        edited = engine.runner.denoise(jobs)
    assert edited is not None and source is not None
    assert torch.equal(edited[:1], source)


def test_different_conditions_change_the_latents(engine: AceStepEngine, source_audio: Audio) -> None:
    source, edited = _edit_latents(engine, audio=source_audio, edit_style_prompt="death metal", edit_n_min=0.0)
    assert float((edited - source).abs().max()) > 1e-3


def test_a_plain_sampling_tail_regenerates(engine: AceStepEngine, source_audio: Audio) -> None:
    source, edited = _edit_latents(
        engine, audio=source_audio, edit_style_prompt="upbeat synth pop", edit_n_min=0.0, edit_n_max=0.5
    )
    assert not torch.equal(edited, source)


def test_defaults_are_documented_values(engine: AceStepEngine, source_audio: Audio) -> None:
    job = engine.plan(request("edit", audio=source_audio))
    assert job.edit_fractions == (0.6, 1.0)
    assert job.edit_window == (19, 32)  # floor(0.6 * 32), of the base checkpoint's 32 steps


@pytest.mark.parametrize(("n_min", "n_max"), [(0.5, 0.5), (0.9, 0.2), (-0.1, 1.0), (0.0, 1.5)])
def test_bad_windows_are_rejected(engine: AceStepEngine, source_audio: Audio, n_min: float, n_max: float) -> None:
    with pytest.raises(TaskInputError, match="edit_n_m"):
        engine.check(request("edit", audio=source_audio, edit_n_min=n_min, edit_n_max=n_max))


def test_edit_audio_differs_from_source_only_by_the_vae(engine: AceStepEngine, source_audio: Audio) -> None:
    (result,) = engine.generate([request("edit", audio=source_audio, edit_style_prompt="upbeat synth pop")])
    assert result.audio.shape == source_audio.shape
    assert np.isfinite(result.audio).all()

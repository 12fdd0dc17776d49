"""The compile warm-up: after it, the requests the batcher produces compile nothing new.

What the recompile tests check, and what they do not: the tiny checkpoint's DiT is compiled with
``dynamic=True`` on torch's ``eager`` backend, through the same ``CompileWatch`` and warm-up the server
uses with inductor. Dynamo traces, guards and (re)compiles exactly as it does for inductor, so a shape
the warm-up missed (a batch of one or more, CFG's doubled batch, a mask, odd frames) shows up here as a
new graph: counted by the watch and by dynamo's own ``unique_graphs`` counter. What ``eager`` cannot show
is a guard inductor itself adds while generating kernels; ``bench/gpu_check.py`` counts graphs after its
warm-up with inductor on a GPU. The warm-up's seconds here are dynamo's tracing only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch._dynamo.utils import counters

from aceserve.domain.adapters import AdapterSpec
from aceserve.engine.conditioning import Cond
from aceserve.engine.engine import AceStepEngine
from aceserve.engine.loader import load_engine
from aceserve.engine.sampler import Denoiser
from aceserve.engine.types import GenerationRequest
from aceserve.engine.warmup import WarmupShape, warmup_plan
from tests.engine.adapters import make_tiny_lora
from tests.engine.helpers import noise_audio, request

BACKEND = "eager"


def _classes(plan: list[WarmupShape]) -> set[tuple[bool, bool]]:
    return {shape.shape_class for shape in plan}


def test_the_plan_follows_what_each_variant_can_produce() -> None:
    turbo = warmup_plan(max_batch_size=4, uses_cfg=False)
    assert _classes(turbo) == {(False, False), (True, False), (True, True)}  # one row is never masked on turbo
    assert max(s.batch for s in turbo) == 4
    base = warmup_plan(max_batch_size=4, uses_cfg=True)
    assert _classes(base) == {(False, False), (False, True), (True, False), (True, True)}
    assert max(s.batch for s in base) == 8  # CFG doubles the batch
    solo_turbo = warmup_plan(max_batch_size=1, uses_cfg=False)
    assert [s.batch for s in solo_turbo] == [1, 1]
    assert len(_classes(warmup_plan(max_batch_size=1, uses_cfg=True))) == 4  # CFG makes two rows of one task
    for plan in (turbo, base):
        for cls in _classes(plan):
            parities = {s.frames % 2 for s in plan if s.shape_class == cls}
            assert parities == {0, 1}, cls


def test_the_examples_keep_clear_of_the_models_sizes() -> None:
    plan = warmup_plan(max_batch_size=4, uses_cfg=True, avoid={2, 3, 10, 11, 12, 13})
    assert {s.frames for s in plan} == {14, 15}
    assert min(s.batch for s in plan if s.batch > 1) == 4
    with pytest.raises(ValueError, match="max_batch_size"):
        warmup_plan(max_batch_size=0, uses_cfg=False)


def test_padding_to_whole_patches_gives_the_dits_own_numbers(engine: AceStepEngine) -> None:
    """``Denoiser.velocity`` pads odd frame counts itself; the result is the DiT's own, bit for bit."""
    pipe = engine.pipeline
    transformer = pipe.transformer
    channels = int(transformer.config.audio_acoustic_hidden_dim)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn((2, 251, channels), generator=gen)
    context = torch.randn((2, 251, 2 * channels), generator=gen)
    hidden = torch.randn((2, 9, int(transformer.config.hidden_size)), generator=gen)
    timestep = torch.full((2,), 0.7)
    with torch.no_grad():
        direct = transformer(
            hidden_states=x,
            timestep=timestep,
            timestep_r=timestep,
            encoder_hidden_states=hidden,
            context_latents=context,
            return_dict=False,
        )[0]
        padded = Denoiser(pipe, engine.runner.masks, engine.runner.device).velocity(x, 0.7, Cond(hidden), context)
    assert padded.shape == direct.shape
    assert torch.equal(padded, direct)


@pytest.fixture
def fresh_dynamo() -> Iterator[None]:
    torch._dynamo.reset()
    counters.clear()
    yield
    torch._dynamo.reset()


def _unique_graphs() -> int:
    return int(counters["stats"]["unique_graphs"])


def _compiled(directory: Path, max_batch_size: int, adapters: dict[str, AdapterSpec] | None = None) -> AceStepEngine:
    return load_engine(
        str(directory),
        device="cpu",
        compile=True,
        compile_backend=BACKEND,
        max_batch_size=max_batch_size,
        adapters=adapters,
    )


def _run(engine: AceStepEngine, batches: list[list[GenerationRequest]]) -> None:
    for batch in batches:
        keys = {engine.batch_key(r) for r in batch}
        assert len(keys) == 1, keys  # one batch each, so the DiT sees the batch size meant
        engine.generate(batch)


def test_turbo_compiles_nothing_after_the_warm_up(
    tiny_dir: Path, tmp_path: Path, fresh_dynamo: None, engine: AceStepEngine
) -> None:
    uncompiled = engine
    adapter = make_tiny_lora(tmp_path / "lora", uncompiled.pipeline.transformer, seed=1)
    engine = _compiled(tiny_dir, max_batch_size=2, adapters={"mini": AdapterSpec("mini", str(adapter))})
    watch, report = engine.compile_watch, engine.warmup_report
    assert watch is not None and report is not None
    assert report.classes == 3 and report.graphs == 3, report
    graphs = _unique_graphs()
    even, odd = noise_audio(1.04, 1), noise_audio(1.0, 2)  # 26 and 25 latent frames
    prompts = ["upbeat synth pop", "a slow, sad, solo piano piece with long pauses"]
    _run(
        engine,
        [
            [request("txt2audio", seed=1, duration=10.0)],  # 250 frames
            [request("audio2audio", seed=2, audio=odd, audio_cover_strength=0.5)],
            [request("audio2audio", seed=3 + i, audio=even, style_prompt=p) for i, p in enumerate(prompts)],  # masked
            [request("audio2audio", seed=5 + i, audio=odd) for i in range(2)],  # two rows, one condition length
            [request("edit", seed=7, audio=even, repaint_start=0.2, repaint_end=0.6)],  # repaint: masked context
            [request("edit", seed=8 + i, audio=odd, repaint_start=0.1, style_prompt=p) for i, p in enumerate(prompts)],
            [request("extend", seed=10, audio=odd, left_extend_duration=0.5)],
            [request("txt2audio", seed=11 + i, duration=10.04, lora="mini", lora_scale=0.7) for i in range(2)],
        ],
    )
    assert watch.after_warmup == 0
    assert _unique_graphs() == graphs
    # The count can fail: an input of one patch (2 latent frames, 80 ms) is a shape of its own, not warmed.
    engine.generate([request("edit", seed=11, audio=noise_audio(0.05, 1))])
    assert watch.after_warmup == 1 and _unique_graphs() == graphs + 1


def test_base_with_and_without_cfg_compiles_nothing_after_the_warm_up(tiny_base_dir: Path, fresh_dynamo: None) -> None:
    engine = _compiled(tiny_base_dir, max_batch_size=1)
    watch, report = engine.compile_watch, engine.warmup_report
    assert watch is not None and report is not None
    assert report.classes == 4 and report.graphs == 4, report
    graphs = _unique_graphs()
    even, odd = noise_audio(1.04, 1), noise_audio(1.0, 2)
    cfg = {"infer_steps": 2}
    off = {"infer_steps": 2, "guidance_scale": 1.0}
    long = "a slow, sad, solo piano piece with long pauses"
    _run(
        engine,
        [
            [request("txt2audio", seed=1, duration=10.0, **cfg)],  # CFG: two rows, the learned null condition
            [request("audio2audio", seed=2, audio=odd, negative_style_prompt=long, **cfg)],  # CFG, masked
            [request("audio2audio", seed=3, audio=even, **off)],  # no CFG: one row
            [request("edit", seed=4, audio=odd, edit_n_min=0.5, edit_style_prompt=long, **off)],  # FlowEdit: masked
            [request("edit", seed=5, audio=even, edit_n_min=0.5, **cfg)],  # FlowEdit under CFG
            [request("edit", seed=6, audio=odd, repaint_start=0.2, repaint_end=0.6, **cfg)],
            [request("extend", seed=7, audio=even, right_extend_duration=0.5, **off)],
        ],
    )
    assert watch.after_warmup == 0
    assert _unique_graphs() == graphs

"""LoRA and LoKr adapters: loaded at start, merged per batch, batched only with their own kind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from aceserve.domain.adapters import AdapterSpec
from aceserve.domain.errors import TaskInputError
from aceserve.engine.engine import AceStepEngine
from aceserve.engine.loader import ModelLoadError, load_engine
from tests.engine.adapters import make_tiny_lokr, make_tiny_lora
from tests.engine.helpers import request


@pytest.fixture(scope="module")
def adapter_files(tmp_path_factory: pytest.TempPathFactory, engine: AceStepEngine) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("adapters")
    transformer = engine.pipeline.transformer
    make_tiny_lora(root / "lora", transformer, seed=1)
    make_tiny_lora(root / "other", transformer, seed=2)
    make_tiny_lokr(root / "lokr", transformer, seed=3)
    return {"lora": root / "lora", "other": root / "other", "lokr": root / "lokr" / "lokr_weights.safetensors"}


@pytest.fixture(scope="module")
def lora_engine(tiny_dir: Path, adapter_files: dict[str, Path]) -> AceStepEngine:
    specs = {name: AdapterSpec(name, str(path)) for name, path in adapter_files.items()}
    return load_engine(str(tiny_dir), device="cpu", warmup=False, adapters=specs)


def _audio(engine: AceStepEngine, **fields: object) -> np.ndarray:
    return engine.generate([request("txt2audio", seed=4, **fields)])[0].audio


def test_the_engine_lists_its_adapters(lora_engine: AceStepEngine) -> None:
    assert lora_engine.info.adapters == ("lora", "other", "lokr")


def test_a_lora_task_differs_from_the_base_and_the_base_comes_back_exactly(
    engine: AceStepEngine, lora_engine: AceStepEngine
) -> None:
    base = _audio(lora_engine)
    assert np.array_equal(base, _audio(engine))  # loading adapters leaves the base model as it was
    with_lora = lora_engine.generate([request("txt2audio", seed=4, lora="lora")])[0]
    assert with_lora.meta["lora"] == "lora" and with_lora.meta["lora_scale"] == 1.0
    assert not np.array_equal(base, with_lora.audio)
    assert not np.array_equal(with_lora.audio, _audio(lora_engine, lora="other"))
    assert np.array_equal(base, _audio(lora_engine))  # restored bit for bit after the adapter's batch
    assert np.array_equal(base, _audio(lora_engine, lora="lora", lora_scale=0))


def test_a_lora_task_equals_itself_when_batched(lora_engine: AceStepEngine) -> None:
    requests = [request("txt2audio", seed=10 + i, lora="lora", style_prompt=p) for i, p in enumerate("abc")]
    requests.append(request("txt2audio", seed=20))  # the base model: its own batch
    requests.append(request("txt2audio", seed=21, lora="lora", lora_scale=0.5))  # another scale: its own
    alone = [lora_engine.generate([r])[0].audio for r in requests]
    batched = lora_engine.generate(requests)
    assert [r.meta["batch_size"] for r in batched] == [3, 3, 3, 1, 1]
    for a, b in zip(alone, batched, strict=True):
        assert float(np.abs(a - b.audio).max()) <= 1e-5


def test_scales_and_adapters_do_not_share_a_batch(lora_engine: AceStepEngine) -> None:
    keys = {
        lora_engine.batch_key(request("txt2audio", **fields))
        for fields in ({}, {"lora": "lora"}, {"lora": "lora", "lora_scale": 0.5}, {"lora": "other"})
    }
    assert len(keys) == 4
    assert lora_engine.batch_key(request("txt2audio", lora="lora", lora_scale=0)) == lora_engine.batch_key(
        request("txt2audio")
    )


def test_lokr_changes_each_weight_as_lycoris_runs_it(tmp_path: Path) -> None:
    from aceserve.engine.lora import AdapterSet
    from aceserve.engine.tiny import make_tiny_checkpoint

    make_tiny_checkpoint(tmp_path / "model")
    transformer = load_engine(str(tmp_path / "model"), device="cpu", warmup=False).pipeline.transformer
    expected = make_tiny_lokr(tmp_path / "lokr", transformer, seed=5)
    assert len(expected) == 16  # q, k, v and out of both attentions in both layers
    before = {name: p.detach().clone() for name, p in transformer.named_parameters()}
    adapters = AdapterSet(transformer, {"k": AdapterSpec("k", str(tmp_path / "lokr"))})
    adapters.apply("k", 1.0)
    for name, parameter in transformer.named_parameters():
        zero = torch.zeros_like(parameter)
        change = expected.get(name.removesuffix(".weight"), zero) if name.endswith(".weight") else zero
        torch.testing.assert_close(parameter - before[name], change, rtol=0, atol=1e-6)
    adapters.apply("", 0.0)
    assert all(torch.equal(p, before[n]) for n, p in transformer.named_parameters())


def test_a_lokr_task_runs_and_differs(lora_engine: AceStepEngine) -> None:
    assert not np.array_equal(_audio(lora_engine), _audio(lora_engine, lora="lokr"))


def test_an_unknown_adapter_is_an_input_error(lora_engine: AceStepEngine, engine: AceStepEngine) -> None:
    with pytest.raises(TaskInputError, match=r"`lora` must name an adapter this worker loaded \(lora, other, lokr\)"):
        lora_engine.check(request("txt2audio", lora="nope"))
    with pytest.raises(TaskInputError, match="loaded \\(none\\)"):
        engine.check(request("txt2audio", lora="lora"))


def test_an_adapter_that_fails_to_load_fails_the_start_naming_it(tmp_path: Path, tiny_dir: Path) -> None:
    (tmp_path / "empty").mkdir()
    for source, reason in [(tmp_path / "missing", "does not exist"), (tmp_path / "empty", "holds neither")]:
        with pytest.raises(ModelLoadError, match=reason) as info:
            load_engine(str(tiny_dir), device="cpu", warmup=False, adapters={"x": AdapterSpec("x", str(source))})
        assert str(source) in str(info.value) and "'x'" in str(info.value)

"""The tiny 5 Hz LM: real Qwen3 classes, ACE-Step 1.5's special tokens and code vocabulary, deterministic."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from aceserve.domain.errors import TaskInputError
from aceserve.engine.loader import ModelLoadError, load_engine
from aceserve.engine.planner.load import DEFAULT_HUB_LM, resolve_lm
from aceserve.engine.planner.tiny_lm import build_model, make_tiny_lm
from aceserve.engine.planner.vocab import AUDIO_CODES, code_token
from aceserve.engine.tiny import build_tokenizer as build_dit_tokenizer
from tests.engine.helpers import request


def _digest(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def test_the_checkpoint_carries_a_small_lm_with_the_real_layout(tiny_lm_dir: Path) -> None:
    from transformers import AutoConfig, AutoTokenizer

    lm = tiny_lm_dir / "lm"
    assert sum(p.stat().st_size for p in lm.rglob("*") if p.is_file()) < 32 * 1024 * 1024
    assert AutoConfig.from_pretrained(lm).model_type == "qwen3"
    tokenizer = AutoTokenizer.from_pretrained(lm)
    codes = tokenizer.convert_tokens_to_ids([code_token(0), code_token(AUDIO_CODES - 1)])
    assert codes[1] - codes[0] == AUDIO_CODES - 1
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|endoftext|>"
    assert len(tokenizer.encode("<think>\n</think>", add_special_tokens=False)) == 3
    assert tokenizer.decode(tokenizer.encode(code_token(42) + code_token(7))) == code_token(42) + code_token(7)


def test_two_builds_are_byte_identical(tiny_lm_dir: Path, tmp_path: Path) -> None:
    make_tiny_lm(tmp_path)
    assert _digest(tmp_path) == _digest(tiny_lm_dir / "lm")


def test_which_lm_is_loaded(tiny_lm_dir: Path, tiny_dir: Path) -> None:
    assert resolve_lm("", str(tiny_lm_dir), model_is_hub_id=False) == str(tiny_lm_dir / "lm")
    assert resolve_lm("", str(tiny_dir), model_is_hub_id=False) is None  # a local checkpoint without lm/
    assert resolve_lm("", "ACE-Step/acestep-v15-turbo", model_is_hub_id=True) == DEFAULT_HUB_LM
    assert resolve_lm("none", str(tiny_lm_dir), model_is_hub_id=False) is None
    assert resolve_lm("/models/lm-1.7B", str(tiny_dir), model_is_hub_id=False) == "/models/lm-1.7B"


def test_lm_none_runs_without_a_planner(tiny_lm_dir: Path) -> None:
    engine = load_engine(str(tiny_lm_dir), device="cpu", warmup=False, lm="none")
    assert engine.planner is None
    with pytest.raises(TaskInputError, match="without the 5 Hz LM planner"):
        engine.check(request("txt2audio", thinking=True))


def test_an_lm_that_cannot_load_fails_the_start_loudly(tiny_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"Could not load the 5 Hz LM .* or --lm none to run without the planner"):
        load_engine(str(tiny_dir), device="cpu", warmup=False, lm=str(tmp_path / "missing"))
    plain = tmp_path / "plain-qwen3"  # a causal LM whose tokenizer has no audio-code tokens
    tokenizer = build_dit_tokenizer()
    build_model(len(tokenizer)).save_pretrained(plain)
    tokenizer.save_pretrained(plain)
    with pytest.raises(ModelLoadError, match=r"cannot plan: .*this is not an ACE-Step 5 Hz LM"):
        load_engine(str(tiny_dir), device="cpu", warmup=False, lm=str(plain))

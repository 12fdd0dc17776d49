"""The tiny checkpoint: real classes, saved and loaded like real weights, small and reproducible."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from aceserve.engine.tiny import main, make_tiny_checkpoint
from aceserve.engine.variants import detect_variant


def _digest(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def test_make_tiny_output_loads_with_from_pretrained(tiny_dir: Path) -> None:
    from diffusers import AceStepPipeline

    pipe = AceStepPipeline.from_pretrained(str(tiny_dir))  # type: ignore[no-untyped-call]
    for name in ("vae", "text_encoder", "tokenizer", "transformer", "condition_encoder", "scheduler"):
        assert getattr(pipe, name) is not None, name
    assert pipe.audio_tokenizer is not None and pipe.audio_token_detokenizer is not None
    assert pipe.vae.config.sampling_rate == 48_000
    assert pipe.vae.config.audio_channels == 2
    assert pipe.latents_per_second == 25.0
    assert pipe.is_turbo
    index = json.loads((tiny_dir / "model_index.json").read_text())
    assert index["_class_name"] == "AceStepPipeline"


def test_tiny_checkpoint_is_small(tiny_dir: Path) -> None:
    size = sum(p.stat().st_size for p in tiny_dir.rglob("*") if p.is_file())
    assert size < 5 * 1024 * 1024


def test_two_builds_are_byte_identical(tiny_dir: Path, tmp_path: Path) -> None:
    make_tiny_checkpoint(tmp_path, lm=False)
    assert _digest(tmp_path) == _digest(tiny_dir)


def test_tokenizer_is_trained_not_downloaded(tiny_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_dir / "tokenizer"), local_files_only=True)
    ids = tokenizer("[verse]\nhello ünïcödé 🎵<|endoftext|>").input_ids
    assert ids[-1] == tokenizer.convert_tokens_to_ids("<|endoftext|>")
    assert tokenizer.pad_token is not None
    assert len(tokenizer) <= 512


def test_variant_is_recorded_in_the_transformer_config(tiny_base_dir: Path) -> None:
    config = json.loads((tiny_base_dir / "transformer" / "config.json").read_text())
    assert detect_variant(config).name == "base"


def test_script_entry_point_writes_a_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main([str(tmp_path / "ck"), "--variant", "sft", "--no-lm"])
    assert "tiny sft checkpoint" in capsys.readouterr().out
    config = json.loads((tmp_path / "ck" / "transformer" / "config.json").read_text())
    assert detect_variant(config).name == "sft"

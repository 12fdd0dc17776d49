"""Seeds: the same seed and inputs give the same samples, in this process and the next."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from aceserve.engine.engine import AceStepEngine
from aceserve.engine.types import Audio, GenerationRequest
from tests.engine.helpers import request


def _cases(source: Audio) -> dict[str, GenerationRequest]:
    return {
        "txt2audio": request("txt2audio", lyrics="[verse]\nseeded"),
        "audio2audio": request("audio2audio", audio=source),
        "edit": request("edit", audio=source, edit_n_min=0.25),
        "extend": request("extend", audio=source, left_extend_duration=0.5),
    }


@pytest.mark.parametrize("task", ["txt2audio", "audio2audio", "edit", "extend"])
def test_same_seed_gives_identical_samples(engine: AceStepEngine, source_audio: Audio, task: str) -> None:
    req = _cases(source_audio)[task]
    first = engine.generate([req])[0].audio
    second = engine.generate([req])[0].audio
    assert np.array_equal(first, second)


@pytest.mark.parametrize("task", ["txt2audio", "audio2audio", "edit", "extend"])
def test_different_seed_gives_different_samples(engine: AceStepEngine, source_audio: Audio, task: str) -> None:
    req = _cases(source_audio)[task]
    other = GenerationRequest(**{**req.__dict__, "seed": req.seed + 1})
    a = engine.generate([req])[0].audio
    b = engine.generate([other])[0].audio
    assert a.shape == b.shape
    assert not np.array_equal(a, b)


def test_same_seed_gives_identical_samples_across_processes(
    engine: AceStepEngine, tiny_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "audio.npy"
    script = textwrap.dedent(
        f"""
        import numpy as np
        from aceserve.engine.loader import load_engine
        from tests.engine.helpers import request
        engine = load_engine({str(tiny_dir)!r}, device="cpu", warmup=False)
        audio = engine.generate([request("txt2audio", seed=4242, lyrics="[verse]\\nagain")])[0].audio
        np.save({str(out)!r}, audio)
        """
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run(
        [sys.executable, "-c", script],
        check=True,
        cwd=root,
        timeout=180,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(root)},
    )
    here = engine.generate([request("txt2audio", seed=4242, lyrics="[verse]\nagain")])[0].audio
    assert np.array_equal(np.load(out), here)

"""Engine fixtures: the tiny checkpoint built once per session, loaded through ``from_pretrained``.

The suite never reaches the Hugging Face hub: offline mode is switched on before anything imports
huggingface_hub, and again on the already-imported module in case another test package got there
first. The tiny tokenizer is trained by ``make_tiny_checkpoint``, never downloaded.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

from collections.abc import Iterator
from pathlib import Path

import pytest

from aceserve.engine.engine import AceStepEngine
from aceserve.engine.loader import load_engine
from aceserve.engine.tiny import make_tiny_checkpoint
from aceserve.engine.types import Audio
from tests.engine.helpers import noise_audio


@pytest.fixture(scope="session", autouse=True)
def _hub_offline() -> Iterator[None]:
    import huggingface_hub.constants

    before = huggingface_hub.constants.HF_HUB_OFFLINE
    huggingface_hub.constants.HF_HUB_OFFLINE = True
    yield
    huggingface_hub.constants.HF_HUB_OFFLINE = before


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("tiny-turbo")
    make_tiny_checkpoint(directory, lm=False)
    return directory


@pytest.fixture(scope="session")
def tiny_base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("tiny-base")
    make_tiny_checkpoint(directory, variant="base", lm=False)
    return directory


@pytest.fixture(scope="session")
def engine(tiny_dir: Path) -> AceStepEngine:
    """The tiny turbo checkpoint on CPU, batches of up to 4."""
    return load_engine(str(tiny_dir), device="cpu", max_batch_size=4)


@pytest.fixture(scope="session")
def base_engine(tiny_base_dir: Path) -> AceStepEngine:
    """The tiny checkpoint as a base (CFG) variant."""
    return load_engine(str(tiny_base_dir), device="cpu", max_batch_size=4, warmup=False)


@pytest.fixture(scope="session")
def source_audio() -> Audio:
    """3.3 s: not a whole number of latent frames (hop 1920), so padding paths are exercised."""
    return noise_audio(3.3)


@pytest.fixture(scope="session")
def tiny_lm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny turbo checkpoint with its tiny 5 Hz LM planner in ``lm/`` (what ``aceserve model make-tiny`` writes)."""
    directory = tmp_path_factory.mktemp("tiny-with-lm")
    make_tiny_checkpoint(directory)
    return directory


@pytest.fixture(scope="session")
def planner_engine(tiny_lm_dir: Path) -> AceStepEngine:
    """The tiny checkpoint with its planner loaded by default."""
    return load_engine(str(tiny_lm_dir), device="cpu", max_batch_size=4, warmup=False)

"""Loading: local directories, hub ids without a hub, devices, variants."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from aceserve.engine.loader import ModelLoadError, load_engine, resolve_device
from aceserve.engine.variants import detect_variant


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a socket fails the test: loading must not reach the hub."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a test tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_missing_directory_says_what_to_do(tmp_path: Path, no_network: None) -> None:
    missing = str(tmp_path / "nowhere")
    with pytest.raises(ModelLoadError) as caught:
        load_engine(missing, device="cpu")
    message = str(caught.value)
    assert missing in message
    assert "aceserve model make-tiny" in message
    assert "--model tiny" in message


def test_offline_hub_id_names_the_model_and_how_to_download(no_network: None) -> None:
    model = "ACE-Step/aceserve-test-not-a-real-model"
    with pytest.raises(ModelLoadError) as caught:
        load_engine(model, device="cpu")
    message = str(caught.value)
    assert repr(model) in message
    assert f"huggingface-cli download {model}" in message
    assert "make-tiny" in message


def test_incomplete_directory_is_a_clear_error(tmp_path: Path, no_network: None) -> None:
    (tmp_path / "model_index.json").write_text("{}")
    with pytest.raises(ModelLoadError, match="not a complete AceStepPipeline checkpoint"):
        load_engine(str(tmp_path), device="cpu")


def test_tiny_loads_by_name(no_network: None) -> None:
    engine = load_engine("tiny", device="cpu", warmup=False)
    assert engine.info.model == "tiny" and engine.info.variant == "turbo"


def test_cpu_offload_on_cpu_is_ignored(tiny_dir: Path) -> None:
    engine = load_engine(str(tiny_dir), device="cpu", cpu_offload=True, warmup=False)
    assert engine.info.device == "cpu"


def test_auto_device_without_a_gpu_is_cpu() -> None:
    import torch

    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected


@pytest.mark.parametrize("device", ["cuda:7", "tpu"])
def test_unavailable_devices_are_refused(device: str) -> None:
    import torch

    if device.startswith("cuda") and torch.cuda.device_count() > 7:
        pytest.skip("this machine has that GPU")
    with pytest.raises(ModelLoadError, match=device):
        resolve_device(device)


def test_bad_batch_size_is_refused(tiny_dir: Path) -> None:
    with pytest.raises(ModelLoadError, match="max_batch_size"):
        load_engine(str(tiny_dir), device="cpu", max_batch_size=0)


@pytest.mark.parametrize(
    ("config", "name", "variant"),
    [
        ({"is_turbo": True, "model_version": None}, "x", "turbo"),
        ({"is_turbo": False, "model_version": "turbo"}, "x", "turbo"),
        ({"is_turbo": False, "model_version": "sft"}, "x", "sft"),
        ({"is_turbo": False, "model_version": "base"}, "acestep-v15-sft", "base"),
        ({"is_turbo": False, "model_version": None}, "ACE-Step/acestep-v15-sft", "sft"),
        ({"is_turbo": False, "model_version": None}, "ACE-Step/acestep-v15-base", "base"),
        ({}, "ACE-Step/acestep-v15-xl-turbo-diffusers", "turbo"),
        ({}, "/models/mine", "base"),
    ],
)
def test_variant_detection(config: dict[str, object], name: str, variant: str) -> None:
    assert detect_variant(config, name).name == variant


def test_engine_package_and_types_import_without_torch() -> None:
    code = (
        "import sys, aceserve.engine, aceserve.engine.types, aceserve.engine.plan, aceserve.engine.variants,"
        " aceserve.engine.audio;"
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)

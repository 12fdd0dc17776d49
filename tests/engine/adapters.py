"""Tiny random adapters made from the tiny checkpoint, in the formats ACE-Step 1.5's trainers write."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from aceserve.engine.lora import UPSTREAM_NAMES

ATTENTION = ["to_q", "to_k", "to_v", "to_out.0"]


def make_tiny_lora(directory: Path, transformer: Any, *, seed: int = 0, rank: int = 4, alpha: int = 8) -> Path:
    """A PEFT LoRA directory as upstream's trainer saves it (``adapter_config.json`` and
    ``adapter_model.safetensors`` with ``base_model.model.layers.N.self_attn.q_proj.lora_A.weight``
    keys), random in both factors so it changes the output."""
    from peft import LoraConfig, get_peft_model, get_peft_model_state_dict

    torch.manual_seed(seed)
    model = get_peft_model(
        copy.deepcopy(transformer),
        LoraConfig(r=rank, lora_alpha=alpha, target_modules=ATTENTION, init_lora_weights=False),
    )
    state = get_peft_model_state_dict(model)
    renamed: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        for ours, theirs in UPSTREAM_NAMES.items():
            key = key.replace(f".{ours}.", f".{theirs}.")
        renamed[key] = value.detach().clone().contiguous()
    directory.mkdir(parents=True, exist_ok=True)
    save_file(renamed, str(directory / "adapter_model.safetensors"))
    config = {
        "peft_type": "LORA",
        "r": rank,
        "lora_alpha": alpha,
        "target_modules": list(UPSTREAM_NAMES.values()),
    }
    (directory / "adapter_config.json").write_text(json.dumps(config))
    return directory


def make_tiny_lokr(
    directory: Path, transformer: Any, *, seed: int = 0, dim: int = 2, alpha: float = 3.0
) -> dict[str, torch.Tensor]:
    """``lokr_weights.safetensors`` written by LyCORIS itself (as upstream's LoKr trainer does), with
    random factors. Returns, per module path, the weight change LyCORIS's own forward pass applies
    (the way upstream runs a LoKr at inference), for comparison."""
    from lycoris import LycorisNetwork, create_lycoris

    torch.manual_seed(seed)
    merged = copy.deepcopy(transformer)
    LycorisNetwork.apply_preset({"target_module": [], "target_name": [r".*attn\.to_(q|k|v|out\.0)$"]})
    network = create_lycoris(
        merged, 1.0, linear_dim=dim, linear_alpha=alpha, algo="lokr", factor=4, decompose_both=True
    )
    network.apply_to()
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.normal_(std=0.3)
    directory.mkdir(parents=True, exist_ok=True)
    settings = {"linear_dim": dim, "linear_alpha": alpha, "factor": 4, "decompose_both": True}
    network.save_weights(
        str(directory / "lokr_weights.safetensors"), torch.float32, {"lokr_config": json.dumps(settings)}
    )
    paths = {id(module): path for path, module in merged.named_modules()}
    with torch.no_grad():
        return {
            paths[id(module.org_module[0])]: (module.get_weight(module.shape) * module.scalar).detach().clone()
            for module in network.loras
        }

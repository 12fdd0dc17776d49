"""Checkpoint variants (turbo, base, sft) and the sampling defaults each one gets.

The variant is read from the transformer's config, the way the converted ACE-Step 1.5 checkpoints
describe themselves: ``is_turbo`` (bool) and ``model_version`` (string, e.g. ``"turbo"``). When the
config says neither turbo nor a version, the model id or directory name breaks the tie
(``acestep-v15-sft``), and a checkpoint with no hint at all is treated as ``base``.

| variant | steps | guidance | shift | CFG                                                        |
|---------|-------|----------|-------|------------------------------------------------------------|
| turbo   | 8     | 1.0      | 3.0   | off: guidance is distilled into the weights; a requested    |
|         |       |          |       | `guidance_scale` and `negative_style_prompt` are ignored    |
| base    | 50    | 7.0      | 3.0   | on (APG, as the diffusers pipeline runs it)                 |
| sft     | 50    | 7.0      | 3.0   | on                                                          |

The step counts follow the ACE-Step 1.5 model card (turbo 8, base/sft 50); guidance 7.0 and shift
3.0 are ACE-Step's own inference defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

VariantName = Literal["turbo", "base", "sft"]


@dataclass(frozen=True)
class VariantDefaults:
    name: VariantName
    steps: int
    guidance: float
    shift: float
    uses_cfg: bool


TURBO = VariantDefaults(name="turbo", steps=8, guidance=1.0, shift=3.0, uses_cfg=False)
BASE = VariantDefaults(name="base", steps=50, guidance=7.0, shift=3.0, uses_cfg=True)
SFT = VariantDefaults(name="sft", steps=50, guidance=7.0, shift=3.0, uses_cfg=True)

VARIANTS: dict[str, VariantDefaults] = {v.name: v for v in (TURBO, BASE, SFT)}


def detect_variant(transformer_config: Mapping[str, object], model_name: str = "") -> VariantDefaults:
    """Pick the variant from the DiT config (``is_turbo``, ``model_version``), then the model name."""
    version = str(transformer_config.get("model_version") or "").lower()
    if bool(transformer_config.get("is_turbo")) or "turbo" in version:
        return TURBO
    if "sft" in version:
        return SFT
    if "base" in version:
        return BASE
    name = model_name.lower()
    if "turbo" in name:
        return TURBO
    if "sft" in name:
        return SFT
    return BASE

"""Checkpoint variants (turbo, base, sft) and the sampling defaults each one gets.

The variant is read from the transformer's config, the way the converted ACE-Step 1.5 checkpoints
describe themselves: ``is_turbo`` (bool) and ``model_version`` (string, e.g. ``"turbo"``). When the
config says neither turbo nor a version, the model id or directory name breaks the tie
(``acestep-v15-sft``), and a checkpoint with no hint at all is treated as ``base``.

| variant | steps           | guidance | shift | CFG                                                   |
|---------|-----------------|----------|-------|-------------------------------------------------------|
| turbo   | 8, always       | 1.0      | 3.0   | off: guidance is distilled into the weights; a        |
|         |                 |          |       | requested `guidance_scale`, `negative_style_prompt`   |
|         |                 |          |       | and `infer_steps` are ignored (the last one with a    |
|         |                 |          |       | line in the task's `logs`)                            |
| base    | 32 (1-200)      | 7.0      | 3.0   | on (APG, momentum -0.75, norm threshold 2.5)          |
| sft     | 32 (1-200)      | 7.0      | 3.0   | on                                                    |

These are ACE-Step 1.5's own defaults: turbo runs its distilled 8-step table (the shift-3 schedule
``1, 0.955, 0.9, 0.833, 0.75, 0.643, 0.5, 0.3 -> 0``) whatever the request says, as upstream's turbo
model does; base and sft default to 32 steps with guidance 7 and shift 3, as upstream's UI and API do.
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
    fixed_steps: bool = False  # True: the step count is part of the weights (turbo); requests cannot change it


TURBO = VariantDefaults(name="turbo", steps=8, guidance=1.0, shift=3.0, uses_cfg=False, fixed_steps=True)
BASE = VariantDefaults(name="base", steps=32, guidance=7.0, shift=3.0, uses_cfg=True)
SFT = VariantDefaults(name="sft", steps=32, guidance=7.0, shift=3.0, uses_cfg=True)

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

"""Which 5 Hz LM to load (``--lm``), and loading it through transformers onto its device.

``--lm`` takes a local directory or a hub id, or ``none``. Absent, the engine takes the LM its model
directory carries in ``lm/`` (the tiny checkpoint carries a tiny one), else, for a hub model id,
ACE-Step's 0.6B LM; a local checkpoint without ``lm/`` runs without a planner. An LM that is named
or defaulted but cannot load fails the start with a message saying why and how to turn it off:
there is no silent fall-back to the DiT-only path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from aceserve.engine.planner.planner import Planner
from aceserve.engine.planner.vocab import VocabularyError

NO_LM = "none"
LM_SUBDIRECTORY = "lm"
DEFAULT_HUB_LM = "ACE-Step/acestep-5Hz-lm-0.6B"
LM_SIZES_GIB = {"0.6B": 3.0, "1.7B": 8.0, "4B": 12.0}  # upstream's VRAM figures per LM size


class PlannerLoadError(Exception):
    """The LM could not be loaded; the message names it and says what to do."""


def resolve_lm(lm: str, model_path: str, *, model_is_hub_id: bool) -> str | None:
    """The LM to load for ``model`` (``None``: no planner)."""
    if lm == NO_LM:
        return None
    if lm:
        return lm
    carried = Path(model_path).expanduser() / LM_SUBDIRECTORY
    if not model_is_hub_id and carried.is_dir():
        return str(carried)
    return DEFAULT_HUB_LM if model_is_hub_id else None


def load_planner(lm: str, *, device: torch.device, codebook_size: int) -> Planner:
    """Load ``lm`` (a directory or hub id) in bfloat16 on CUDA, float32 elsewhere."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    advice = "Pass --lm DIR (a downloaded ACE-Step 5 Hz LM) or --lm none to run without the planner."
    try:
        tokenizer = AutoTokenizer.from_pretrained(lm)
        model: Any = AutoModelForCausalLM.from_pretrained(lm, dtype=dtype)
    except Exception as exc:
        raise PlannerLoadError(f"Could not load the 5 Hz LM {lm!r} ({type(exc).__name__}: {exc}). {advice}") from exc
    model.to(device)
    model.train(False)
    try:
        return Planner(model, tokenizer, device=device, codebook_size=codebook_size, name=lm)
    except VocabularyError as exc:
        raise PlannerLoadError(f"{lm!r} cannot plan: {exc} {advice}") from exc

"""Load an ACE-Step 1.5 checkpoint into an ``AceStepEngine``.

``model`` is a local directory written by ``save_pretrained`` (a converted checkpoint or
``aceserve model make-tiny``), a Hugging Face hub id (downloaded with huggingface_hub's progress
bars, or taken from its cache), or ``"tiny"`` (the tiny checkpoint, built into a temporary
directory and loaded from there through the same ``from_pretrained`` path). Weights load as
bfloat16 on CUDA and float32 elsewhere. ``cpu_offload`` uses diffusers' model CPU offload (each
component moves to the GPU while it runs; ignored on CPU); ``compile`` runs the DiT through
``torch.compile`` (dynamic shapes; the warm-up pays the first compilation, new lengths recompile);
the warm-up is one 2 s, 1-step txt2audio task. Missing weights with no reachable hub raise
``ModelLoadError`` naming the model and the way out (download elsewhere, or the tiny checkpoint).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from aceserve.domain.adapters import AdapterSpec
from aceserve.domain.states import TaskType
from aceserve.engine.engine import AceStepEngine
from aceserve.engine.lora import AdapterLoadError, AdapterSet
from aceserve.engine.quiet import quiet_known_warnings
from aceserve.engine.types import GenerationRequest
from aceserve.engine.variants import detect_variant

log = logging.getLogger(__name__)

TINY_MODEL = "tiny"
WARMUP_SECONDS = 2.0


class ModelLoadError(Exception):
    """The model could not be loaded; the message names it and says what to do."""


def resolve_device(device: str) -> torch.device:
    """``auto`` picks CUDA when available, else CPU; an explicit device must exist."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise ModelLoadError(f"Unknown device {device!r}: use cpu, cuda, cuda:N or auto.") from exc
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ModelLoadError(f"Device {device!r} was asked for, but CUDA is not available on this machine.")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ModelLoadError(
                f"Device {device!r} does not exist: this machine has {torch.cuda.device_count()} CUDA device(s)."
            )
    return resolved


def _offline_advice(model: str) -> str:
    return (
        f"If this machine cannot reach the Hugging Face hub, download the weights on one that can with "
        f"`huggingface-cli download {model}` (or `hf download {model} --local-dir DIR`) and pass the "
        f"directory as --model. To try the API without weights, run `aceserve model make-tiny DIR` and "
        f"pass --model DIR, or pass --model tiny."
    )


def load_pipeline(model: str, dtype: torch.dtype) -> Any:
    """``AceStepPipeline.from_pretrained`` with errors turned into ``ModelLoadError``."""
    from diffusers import AceStepPipeline

    path = Path(model).expanduser()
    is_local = path.exists() or model.startswith((".", "/", "~")) or model.count("/") != 1
    if is_local and not path.is_dir():
        raise ModelLoadError(
            f"Model {model!r} is not a directory here. Pass a checkpoint directory written by "
            f"`save_pretrained` or a hub id such as ACE-Step/acestep-v15-xl-turbo-diffusers. "
            + _offline_advice("ACE-Step/acestep-v15-xl-turbo-diffusers")
        )
    try:
        with quiet_known_warnings():
            return AceStepPipeline.from_pretrained(str(path) if is_local else model, dtype=dtype)
    except Exception as exc:
        if is_local:
            raise ModelLoadError(
                f"Could not load model {model!r}: the directory is not a complete AceStepPipeline checkpoint "
                f"({type(exc).__name__}: {exc}). Rebuild it, e.g. with `aceserve model make-tiny {model}`."
            ) from exc
        raise ModelLoadError(
            f"Could not load model {model!r}: its weights are not in the local Hugging Face cache and "
            f"could not be downloaded ({type(exc).__name__}: {exc}). " + _offline_advice(model)
        ) from exc


def load_engine(
    model: str,
    *,
    device: str = "auto",
    cpu_offload: bool = False,
    compile: bool = False,
    max_batch_size: int = 4,
    warmup: bool = True,
    adapters: Mapping[str, AdapterSpec] | None = None,
) -> AceStepEngine:
    """Load ``model`` (and its ``--lora`` adapters) and return a ready engine (warmed up unless ``warmup=False``)."""
    if max_batch_size < 1:
        raise ModelLoadError(f"`max_batch_size` must be at least 1, got {max_batch_size!r}.")
    target = resolve_device(device)
    dtype = torch.bfloat16 if target.type == "cuda" else torch.float32
    if model == TINY_MODEL:
        from aceserve.engine.tiny import make_tiny_checkpoint

        with tempfile.TemporaryDirectory(prefix="aceserve-tiny-") as tmp:
            make_tiny_checkpoint(Path(tmp))
            pipe = load_pipeline(tmp, dtype)
    else:
        pipe = load_pipeline(model, dtype)
    return engine_from_pipeline(
        pipe,
        model=model,
        device=target,
        cpu_offload=cpu_offload,
        compile=compile,
        max_batch_size=max_batch_size,
        warmup=warmup,
        adapters=adapters,
    )


def engine_from_pipeline(
    pipe: Any,
    *,
    model: str,
    device: torch.device,
    cpu_offload: bool = False,
    compile: bool = False,
    max_batch_size: int = 4,
    warmup: bool = True,
    adapters: Mapping[str, AdapterSpec] | None = None,
) -> AceStepEngine:
    """Place a loaded pipeline on ``device``, load its adapters, optionally offload and compile it, and wrap it.

    An adapter that fails to load fails the start (``ModelLoadError`` naming its path and the reason).
    """
    variant = detect_variant(dict(pipe.transformer.config), model)
    if cpu_offload and device.type != "cpu":
        pipe.enable_model_cpu_offload(device=device)
    else:
        if cpu_offload:
            log.warning("cpu_offload ignored: the model already runs on the CPU")
        pipe.to(device)
    if device.type == "cuda":
        # Long audio through the full-size VAE in one piece takes tens of GB; diffusers' tiling (30 s
        # tiles with 2 s overlap to encode, 512 frames with 64 of overlap to decode) bounds it.
        pipe.vae.enable_tiling()
    pipe.set_progress_bar_config(disable=True)
    adapter_set = None
    if adapters:
        try:
            adapter_set = AdapterSet(pipe.transformer, adapters)
        except AdapterLoadError as exc:
            raise ModelLoadError(str(exc)) from exc
    try:
        engine = AceStepEngine(
            pipe,
            model=model,
            variant=variant,
            device=str(device),
            max_batch_size=max_batch_size,
            adapters=adapter_set,
        )
    except ValueError as exc:
        raise ModelLoadError(f"Model {model!r} cannot be served: {exc}") from exc
    if compile:
        pipe.transformer.compile(dynamic=True)
    if warmup:
        engine.generate(
            [
                GenerationRequest(
                    task_type=TaskType.TXT2AUDIO,
                    seed=0,
                    style_prompt="warm-up",
                    duration=WARMUP_SECONDS,
                    infer_steps=1,
                )
            ]
        )
    log.info("loaded %s (%s) on %s as %s", model, variant.name, device, engine.info.dtype)
    return engine

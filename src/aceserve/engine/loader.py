"""Load an ACE-Step 1.5 checkpoint into an ``AceStepEngine``.

``model`` is a local directory written by ``save_pretrained`` (a converted checkpoint or
``aceserve model make-tiny``), a Hugging Face hub id (downloaded with huggingface_hub's progress
bars, or taken from its cache), or ``"tiny"`` (the tiny checkpoint, built into a temporary
directory and loaded from there through the same ``from_pretrained`` path). Weights load as
bfloat16 on CUDA and float32 elsewhere. ``cpu_offload`` uses diffusers' model CPU offload (each
component moves to the GPU while it runs; ignored on CPU); ``compile`` runs the DiT through
``torch.compile`` (dynamic shapes, on ``compile_backend``, inductor by default), and the warm-up then
first calls the DiT once for each shape the batcher can produce (``warmup.py``: every graph is
compiled before the first task; it logs how many shapes, graphs and seconds that took); the warm-up
is then one 2 s, 1-step txt2audio task. Missing weights with no reachable hub raise
``ModelLoadError`` naming the model and the way out (download elsewhere, or the tiny checkpoint).
"""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from aceserve.domain.adapters import AdapterSpec
from aceserve.domain.states import TaskType
from aceserve.engine.engine import AceStepEngine
from aceserve.engine.lora import AdapterLoadError, AdapterSet
from aceserve.engine.planner.load import NO_LM, PlannerLoadError, load_planner, resolve_lm
from aceserve.engine.planner.planner import Planner
from aceserve.engine.quiet import quiet_known_warnings
from aceserve.engine.sampler import Denoiser
from aceserve.engine.types import GenerationRequest
from aceserve.engine.variants import detect_variant
from aceserve.engine.warmup import DEFAULT_BACKEND, compile_transformer, model_sizes, run_warmup, warmup_plan

log = logging.getLogger(__name__)

TINY_MODEL = "tiny"
_LOADING = threading.Lock()
"""One load at a time per process: transformers and diffusers build models under a process-wide
meta-device context, so two threads loading at once (one worker per GPU, or two engines in one
process) can get each other's empty weights."""
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


def is_hub_id(model: str) -> bool:
    """``owner/name`` that is not a path here."""
    path = Path(model).expanduser()
    return not (path.exists() or model.startswith((".", "/", "~")) or model.count("/") != 1)


def load_pipeline(model: str, dtype: torch.dtype) -> Any:
    """``AceStepPipeline.from_pretrained`` with errors turned into ``ModelLoadError``."""
    from diffusers import AceStepPipeline

    path = Path(model).expanduser()
    is_local = not is_hub_id(model)
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
    lm: str = "",
    lm_device: str = "",
    compile_backend: str = DEFAULT_BACKEND,
) -> AceStepEngine:
    """Load ``model`` and return a ready engine (warmed up unless ``warmup=False``).

    ``lm`` picks the 5 Hz LM planner (``planner/load.py``: empty for the model's own or the default,
    ``none`` for none); it runs on ``lm_device`` (empty: the DiT's device)."""
    if max_batch_size < 1:
        raise ModelLoadError(f"`max_batch_size` must be at least 1, got {max_batch_size!r}.")
    with _LOADING:
        return _load_engine(
            model, device, cpu_offload, compile, max_batch_size, warmup, lm, lm_device, adapters, compile_backend
        )


def _load_engine(
    model: str,
    device: str,
    cpu_offload: bool,
    compile: bool,
    max_batch_size: int,
    warmup: bool,
    lm: str,
    lm_device: str,
    adapters: Mapping[str, AdapterSpec] | None = None,
    compile_backend: str = DEFAULT_BACKEND,
) -> AceStepEngine:
    target = resolve_device(device)
    lm_target = resolve_device(lm_device) if lm_device else target
    dtype = torch.bfloat16 if target.type == "cuda" else torch.float32
    if model == TINY_MODEL:
        from aceserve.engine.tiny import make_tiny_checkpoint

        with tempfile.TemporaryDirectory(prefix="aceserve-tiny-") as tmp:
            make_tiny_checkpoint(Path(tmp), lm=lm != NO_LM)
            pipe = load_pipeline(tmp, dtype)
            planner = _planner(pipe, lm, tmp, is_hub=False, device=lm_target)
    else:
        pipe = load_pipeline(model, dtype)
        planner = _planner(pipe, lm, model, is_hub=is_hub_id(model), device=lm_target)
    return engine_from_pipeline(
        pipe,
        model=model,
        device=target,
        cpu_offload=cpu_offload,
        compile=compile,
        max_batch_size=max_batch_size,
        warmup=warmup,
        adapters=adapters,
        planner=planner,
        compile_backend=compile_backend,
    )


def _planner(pipe: Any, lm: str, model_path: str, *, is_hub: bool, device: torch.device) -> Planner | None:
    """The planner for ``pipe``, or None; a planner that cannot load raises ``ModelLoadError``."""
    chosen = resolve_lm(lm, model_path, model_is_hub_id=is_hub)
    if chosen is None:
        return None
    quantizer = getattr(getattr(pipe, "audio_tokenizer", None), "quantizer", None)
    if quantizer is None or getattr(pipe, "audio_token_detokenizer", None) is None:
        raise ModelLoadError(
            "The 5 Hz LM planner needs the checkpoint's audio tokenizer and detokenizer, which this one lacks; "
            "pass --lm none."
        )
    try:
        with quiet_known_warnings():
            planner = load_planner(chosen, device=device, codebook_size=int(quantizer.codebook_size))
    except PlannerLoadError as exc:
        raise ModelLoadError(str(exc)) from exc
    log.info("loaded the 5 Hz LM planner %s on %s", chosen, device)
    return planner


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
    planner: Planner | None = None,
    compile_backend: str = DEFAULT_BACKEND,
) -> AceStepEngine:
    """Place a loaded pipeline on ``device``, load its adapters, optionally offload and compile it, and wrap it.

    With ``compile`` and ``warmup`` every graph the batcher can need is compiled here (``warmup.py``);
    ``engine.compile_watch`` counts graphs, and ``engine.warmup_report`` says what the warm-up did.

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
            planner=planner,
        )
    except ValueError as exc:
        raise ModelLoadError(f"Model {model!r} cannot be served: {exc}") from exc
    if compile:
        engine.compile_watch = compile_transformer(pipe.transformer, compile_backend)
        if warmup:
            plan = warmup_plan(
                max_batch_size=max_batch_size, uses_cfg=variant.uses_cfg, avoid=model_sizes(pipe.transformer)
            )
            denoiser = Denoiser(pipe, engine.runner.masks, engine.runner.device)
            report = run_warmup(denoiser, plan, engine.compile_watch)
            engine.warmup_report = report
            log.info(
                "compile warm-up (%s): %d DiT shapes in %d classes, %d graphs compiled, %.1f s",
                compile_backend,
                report.shapes,
                report.classes,
                report.graphs,
                report.seconds,
            )
    if warmup:
        engine.generate(
            [
                GenerationRequest(
                    task_type=TaskType.TXT2AUDIO,
                    seed=0,
                    style_prompt="warm-up",
                    duration=WARMUP_SECONDS,
                    infer_steps=1,
                    thinking=False,
                )
            ]
        )
    log.info("loaded %s (%s) on %s as %s", model, variant.name, device, engine.info.dtype)
    return engine

"""Engine benchmark (not a test): seconds per task, real-time factor and peak memory; asserts nothing.

    python bench/engine.py [--model PATH|HUB_ID|tiny] [--random-weights] [--device auto]
                           [--durations 30 60 240] [--batch-sizes 1 2 4 8] [--steps N] [--repeats 1]

Without ``--model``: on a GPU machine the full-size ACE-Step 1.5 turbo configuration with random
weights (``--random-weights``: 2B DiT, Qwen3-Embedding-0.6B-sized text encoder, the 48 kHz Oobleck
VAE), in bfloat16; on a CPU-only machine the tiny checkpoint. Every batch is one ``Engine.generate``
call of txt2audio tasks with distinct seeds. ``RTF`` is wall seconds per second of audio made (lower
is faster); ``x realtime`` is its inverse. With ``--lm`` (e.g. ``--lm ''`` for the tiny checkpoint's own
LM) every task plans first; ``LM s`` is the planning call's wall time (part of ``wall s``) and
``LM tok/s`` the tokens the tasks' plans hold per second of it (``bench/planner.py`` breaks it down
by phase). Peak memory is CUDA's peak allocation for that row on a
GPU, and the process's peak resident set so far on CPU. Random weights make noise, not music: the
timings are what matter. The random-weight tokenizer is the tiny one (a 512-token BPE), so prompts
take a few more tokens than with Qwen's tokenizer; the text encoder is a small share of the work.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from dataclasses import dataclass

import torch

from aceserve.domain.states import TaskType
from aceserve.engine.architecture import FULL_TURBO, build_pipeline
from aceserve.engine.engine import AceStepEngine
from aceserve.engine.loader import engine_from_pipeline, load_engine, resolve_device
from aceserve.engine.tiny import build_tokenizer
from aceserve.engine.types import GenerationRequest

PROMPT = "energetic synth pop with punchy drums, bright lead synth and a warm bass line"
LYRICS = "[verse]\nneon lights over the water\nwe keep running through the night\n[chorus]\nhold on, hold on"


def random_full_engine(device: torch.device, max_batch_size: int) -> AceStepEngine:
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    with device:
        pipe = build_pipeline(FULL_TURBO, build_tokenizer(), variant="turbo")
    pipe.to(dtype=dtype)
    return engine_from_pipeline(
        pipe, model="random ACE-Step 1.5 turbo (full size)", device=device, max_batch_size=max_batch_size
    )


def peak_memory(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB (CUDA)"
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return f"{kib / 2**20:.2f} GiB (RSS)"


def run(engine: AceStepEngine, device: torch.device, seconds: float, batch: int, steps: int | None) -> Timing:
    requests = [
        GenerationRequest(
            task_type=TaskType.TXT2AUDIO,
            seed=1000 + i,
            style_prompt=PROMPT,
            lyrics=LYRICS,
            duration=seconds,
            infer_steps=steps,
        )
        for i in range(batch)
    ]
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    results = engine.generate(requests)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    wall = time.perf_counter() - start
    plans = [plan for r in results if isinstance(plan := r.meta.get("plan"), dict)]
    lm_seconds = max((float(plan["lm_seconds"]) for plan in plans), default=0.0)  # one batched planning call
    return Timing(wall, lm_seconds, sum(int(plan["lm_tokens"]) for plan in plans))


@dataclass(frozen=True)
class Timing:
    wall: float
    lm_seconds: float = 0.0  # the planner's share of ``wall``
    lm_tokens: int = 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="checkpoint directory, hub id or 'tiny'")
    parser.add_argument("--random-weights", action="store_true", help="full-size turbo configuration, random")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--durations", type=float, nargs="+", default=[30.0, 60.0, 240.0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--steps", type=int, default=None, help="denoising steps (default: the variant's)")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per row; the best is shown")
    parser.add_argument(
        "--lm",
        default="none",
        help="the 5 Hz LM planner: 'none' (default: DiT only), '' (the model's own, e.g. the tiny checkpoint's), "
        "or a directory or hub id; with one, every task plans and the planner's share is shown",
    )
    args = parser.parse_args(argv)

    device = resolve_device(args.device)
    max_batch = max(args.batch_sizes)
    started = time.perf_counter()
    if args.model:
        engine = load_engine(args.model, device=args.device, max_batch_size=max_batch, lm=args.lm)
    elif args.random_weights or device.type == "cuda":
        engine = random_full_engine(device, max_batch)
    else:
        engine = load_engine("tiny", device=str(device), max_batch_size=max_batch, lm=args.lm)
    info = engine.info
    steps = args.steps or info.default_steps
    threads = torch.get_num_threads()
    print(
        f"model: {info.model}  variant: {info.variant}  device: {info.device}  dtype: {info.dtype}  "
        f"steps: {steps}  torch threads: {threads}  load+warm-up: {time.perf_counter() - started:.1f} s"
    )
    run(engine, device, min(args.durations), 1, args.steps)  # untimed: first-call kernel set-up
    planner = f"  {'LM s':>6} {'LM tok/s':>8}" if engine.planner is not None else ""
    print(
        f"{'audio s':>8} {'batch':>5} {'wall s':>8} {'s/task':>8} {'RTF':>8} {'x realtime':>11}{planner}  peak memory"
    )
    for seconds in args.durations:
        for batch in args.batch_sizes:
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            try:
                timing = min(
                    (run(engine, device, seconds, batch, args.steps) for _ in range(max(args.repeats, 1))),
                    key=lambda t: t.wall,
                )
            except torch.OutOfMemoryError:
                print(f"{seconds:>8.0f} {batch:>5}  out of memory")
                torch.cuda.empty_cache()
                continue
            wall = timing.wall
            rtf = wall / (seconds * batch)
            lm = ""
            if engine.planner is not None and timing.lm_seconds:
                lm = f"  {timing.lm_seconds:>6.2f} {timing.lm_tokens / timing.lm_seconds:>8.1f}"
            print(
                f"{seconds:>8.0f} {batch:>5} {wall:>8.2f} {wall / batch:>8.3f} {rtf:>8.4f} {1 / rtf:>11.1f}{lm}  "
                f"{peak_memory(device)}",
                flush=True,
            )


def _quiet() -> None:
    import logging
    import warnings

    from diffusers.utils import logging as diffusers_logging

    warnings.filterwarnings("ignore", category=FutureWarning)
    diffusers_logging.disable_progress_bar()
    logging.getLogger("diffusers").setLevel(logging.ERROR)
    logging.getLogger("transformers").setLevel(logging.ERROR)


if __name__ == "__main__":
    _quiet()
    main(sys.argv[1:])

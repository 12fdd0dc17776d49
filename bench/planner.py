"""Planner benchmark (not a test): the 5 Hz LM's cost per phase: tokens/s, seconds per task, peak memory.

    python bench/planner.py [--lm DIR|HUB_ID] [--size tiny|0.6B] [--device auto]
                            [--durations 30 60 240] [--batch-sizes 1 4]

Without ``--lm``: ``--size tiny`` (default) is the tiny random LM the tiny checkpoint carries;
``--size 0.6B`` is a random LM in the geometry of ACE-Step's 0.6B planner (Qwen3-0.6B: 28 layers,
width 1024, 16 heads, 8 key/value heads, tied embeddings; 215,669 vocabulary rows: Qwen3's 151,669
tokens and 64,000 audio codes) with the tiny tokenizer, for shapes and speed without weights.
Random weights write nonsense, well formed: the chain-of-thought row runs to the caption's token
cap (512) more often than a trained LM would, so it is an upper bound; the codes rows write exactly
``5 * seconds`` codes, as a real LM must. Each phase runs with upstream's default sampling (CFG 2.0:
two rows per task). ``tok/s`` counts the tokens the tasks wrote (not the unconditional rows).
Peak memory is CUDA's peak allocation on a GPU, the process's peak resident set so far on CPU.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

from aceserve.engine.loader import resolve_device
from aceserve.engine.planner.load import load_planner
from aceserve.engine.planner.parse import Metadata
from aceserve.engine.planner.planner import Planner, PlanRequest
from aceserve.engine.planner.tiny_lm import build_tokenizer, make_tiny_lm
from aceserve.engine.planner.vocab import AUDIO_CODES

CAPTION = "energetic synth pop with punchy drums, bright lead synth and a warm bass line"
LYRICS = "[verse]\nneon lights over the water\nwe keep running through the night\n[chorus]\nhold on, hold on"
QWEN3_TEXT_VOCAB = 151_669


def random_06b(device: torch.device) -> Planner:
    from transformers import Qwen3Config, Qwen3ForCausalLM

    tokenizer = build_tokenizer()
    config = Qwen3Config(
        vocab_size=QWEN3_TEXT_VOCAB + AUDIO_CODES,
        hidden_size=1024,
        intermediate_size=3072,
        num_hidden_layers=28,
        num_attention_heads=16,
        num_key_value_heads=8,
        head_dim=128,
        max_position_embeddings=32_768,
        rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0},
        tie_word_embeddings=True,
    )
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    torch.manual_seed(0)
    with device:
        model = Qwen3ForCausalLM(config).to(dtype)
    model.train(False)
    return Planner(model, tokenizer, device=device, codebook_size=AUDIO_CODES, name="random 0.6B-size LM")


def peak_memory(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB (CUDA)"
    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB (RSS)"


def measure(planner: Planner, device: torch.device, requests: list[PlanRequest]) -> tuple[float, int]:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    outcomes = planner.plan(requests)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    wall = time.perf_counter() - start
    failed = [o.error for o in outcomes if o.plan is None]
    if failed:
        raise SystemExit(f"a plan failed: {failed[0]}")
    return wall, sum(o.tokens for o in outcomes)


def row(name: str, batch: int, wall: float, tokens: int, device: torch.device) -> None:
    print(
        f"{name:<22} {batch:>5} {tokens:>7} {wall:>8.2f} {wall / batch:>8.2f} {tokens / wall:>8.1f}  "
        f"{peak_memory(device)}",
        flush=True,
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lm", help="an ACE-Step 5 Hz LM: directory or hub id")
    parser.add_argument("--size", choices=["tiny", "0.6B"], default="tiny")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--durations", type=int, nargs="+", default=[30, 60, 240])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4])
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    started = time.perf_counter()
    if args.lm:
        planner = load_planner(args.lm, device=device, codebook_size=AUDIO_CODES)
    elif args.size == "0.6B":
        planner = random_06b(device)
    else:
        directory = Path(tempfile.mkdtemp(prefix="aceserve-tiny-lm-"))
        make_tiny_lm(directory)
        planner = load_planner(str(directory), device=device, codebook_size=AUDIO_CODES)
    parameters = sum(p.numel() for p in planner.decoder.model.parameters())
    print(
        f"LM: {planner.name} ({parameters / 1e6:.1f} M parameters)  device: {device}  "
        f"torch threads: {torch.get_num_threads()}  load: {time.perf_counter() - started:.1f} s"
    )
    print(f"{'phase':<22} {'tasks':>5} {'tokens':>7} {'wall s':>8} {'s/task':>8} {'tok/s':>8}  peak memory")
    given = Metadata(bpm=120, key_scale="C major", time_signature=4, language="en")
    for batch in args.batch_sizes:
        thought = [
            PlanRequest(seed=i, caption=CAPTION, lyrics=LYRICS, seconds=30, codes=0) for i in range(batch)
        ]  # metadata missing: a chain of thought, no codes
        row("chain of thought", batch, *measure(planner, device, thought), device)
    for seconds in args.durations:
        for batch in args.batch_sizes:
            codes = [
                PlanRequest(seed=i, caption=CAPTION, lyrics=LYRICS, seconds=seconds, codes=5 * seconds, given=given)
                for i in range(batch)
            ]  # metadata given: straight to the codes, as upstream does
            row(f"codes for {seconds} s", batch, *measure(planner, device, codes), device)


def _quiet() -> None:
    import logging
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    logging.getLogger("transformers").setLevel(logging.ERROR)


if __name__ == "__main__":
    _quiet()
    main(sys.argv[1:])

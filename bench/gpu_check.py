"""One GPU check, in one go: what aceserve's engine does on a GPU, printed as one table.

    bench/gpu_check.sh [--device cuda] [--budget 540] [--markdown FILE]   # on a GPU machine
    bench/gpu_check.sh --dry-run                                         # CPU, tiny model, tiny sizes

Rows, in this order (each a real ``AceStepEngine`` on the device; nothing is mocked):

1. **sizes**: the full-size ACE-Step 1.5 turbo configuration with random weights (the hub is not needed:
   speed does not depend on weight values), txt2audio of 30, 60 and 240 s at batch 1, 4 and 8, in bf16.
   One untimed call first pays the first-call kernel set-up.
2. **bf16 vs fp32**: the tiny checkpoint in fp32 and in bf16 on the device, same seeds, same tasks: the
   relative L2 error and the largest difference of the audio, and whether the latents between steps stay
   float32 under bf16 (they should: only the DiT and the VAE run in the weights' dtype).
3. **VAE tiling**: the full-size VAE decodes 240 s of latents in one piece and tiled (diffusers' tiling,
   which the engine switches on for CUDA): seconds, peak memory and how far the two differ.
4. **compile**: the same full-size pipeline compiled (``torch.compile``, inductor) with the warm-up of
   ``engine/warmup.py``: shapes, graphs and seconds it took; then 30 s at batch 1 and the largest batch, and
   a spread (odd frame count, prompts of different lengths) that must compile no new graph.
5. **CPU offload**: a second full-size pipeline with diffusers' model CPU offload: 30 s at batch 1, peak
   VRAM beside the resident row's.

Columns: wall seconds, RTF (wall seconds per second of audio made; lower is faster), peak memory (CUDA's
peak allocation for that row; on CPU the process's peak resident set so far), result. A row that would
start after ``--budget`` seconds is printed as skipped, so the whole check ends in about ten minutes; a
row that fails prints its error and the check goes on (exit status 1 at the end).

``--dry-run`` runs every row on the CPU with the tiny checkpoint instead of the full-size configuration:
10 and 12 s of audio at batch 1 and 2, 22 s through the VAE (just over one tile), compile on the
``eager`` backend (dynamo's tracing and guards, no code generation) with batches of one. It shows that
the check works, not how fast a GPU is.
"""

from __future__ import annotations

import argparse
import gc
import logging
import resource
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aceserve.domain.states import TaskType
from aceserve.engine.architecture import FULL_TURBO, build_pipeline
from aceserve.engine.engine import AceStepEngine
from aceserve.engine.loader import engine_from_pipeline, load_pipeline, resolve_device
from aceserve.engine.tiny import build_tokenizer, make_tiny_checkpoint
from aceserve.engine.types import GenerationRequest

PROMPT = "energetic synth pop with punchy drums, bright lead synth and a warm bass line"
LONG_PROMPT = PROMPT + ", a choir in the last chorus, a long reverb tail and vinyl crackle throughout"
LYRICS = "[verse]\nneon lights over the water\nwe keep running through the night\n[chorus]\nhold on, hold on"
BF16_MAX_RELATIVE_L2 = 0.05  # bf16 vs fp32 audio on the tiny model; see the README's GPU check section


@dataclass(frozen=True)
class Sizes:
    durations: tuple[float, ...]
    batches: tuple[int, ...]
    vae_seconds: float
    compile_backend: str
    compile_batch: int  # largest batch of the compiled engine
    compile_seconds: float


FULL = Sizes((30.0, 60.0, 240.0), (1, 4, 8), 240.0, "inductor", 8, 30.0)
DRY = Sizes((10.0, 12.0), (1, 2), 22.0, "eager", 1, 10.0)


@dataclass(frozen=True)
class Row:
    check: str
    model: str
    audio: str = ""
    batch: str = ""
    wall: str = ""
    rtf: str = ""
    peak: str = ""
    result: str = ""


HEADER = Row("check", "model", "audio", "batch", "wall s", "RTF", "peak memory", "result")


def requests(seconds: float, batch: int, *, seed: int = 1000, prompts: tuple[str, ...] = (PROMPT,)) -> list[Any]:
    return [
        GenerationRequest(
            task_type=TaskType.TXT2AUDIO,
            seed=seed + i,
            style_prompt=prompts[i % len(prompts)],
            lyrics=LYRICS,
            duration=seconds,
            thinking=False,
        )
        for i in range(batch)
    ]


class GpuCheck:
    def __init__(self, device: torch.device, sizes: Sizes, budget: float, dry_run: bool) -> None:
        self.device = device
        self.sizes = sizes
        self.budget = budget
        self.dry_run = dry_run
        self.started = time.perf_counter()
        self.rows: list[Row] = []
        self.failed = False
        self.full_name = "tiny (dry run)" if dry_run else "full-size turbo, random"
        self._tiny_dir = Path(tempfile.mkdtemp(prefix="aceserve-gpu-check-"))
        make_tiny_checkpoint(self._tiny_dir, lm=False)

    # -- measuring ------------------------------------------------------------------------------

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def reset_peak(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)

    def peak(self) -> str:
        if self.device.type == "cuda":
            return f"{torch.cuda.max_memory_allocated(self.device) / 2**30:.2f} GiB"
        return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB RSS"

    def timed(self, fn: Callable[[], Any]) -> tuple[Any, float]:
        self.reset_peak()
        self.sync()
        start = time.perf_counter()
        out = fn()
        self.sync()
        return out, time.perf_counter() - start

    def add(self, row: Row) -> None:
        self.rows.append(row)
        print(" | ".join(f"{v}" for v in _cells(row)), flush=True)

    def add_generation(self, check: str, model: str, seconds: float, batch: int, wall: float) -> None:
        """A row for ``batch`` songs of ``seconds`` generated in ``wall`` seconds: RTF, peak memory, speed."""
        rtf = wall / (seconds * batch)
        self.add(
            Row(
                check,
                model,
                f"{seconds:g} s",
                str(batch),
                f"{wall:.2f}",
                f"{rtf:.4f}",
                self.peak(),
                f"{1 / rtf:.1f}x realtime",
            )
        )

    def section(self, check: str, model: str, body: Callable[[], None]) -> None:
        """Run one check's rows; past the budget it is skipped, and an error is its row."""
        if self.elapsed() > self.budget:
            self.add(Row(check, model, result=f"skipped: the {self.budget:.0f} s budget is spent"))
            return
        try:
            body()
        except Exception as exc:  # one failing check must not hide the others
            self.failed = True
            message = str(exc).splitlines()[0][:200] if str(exc) else ""
            self.add(Row(check, model, result=f"FAILED: {type(exc).__name__}: {message}"))
            if self.device.type == "cuda":
                torch.cuda.empty_cache()

    # -- pipelines ------------------------------------------------------------------------------

    def full_pipe(self, on: torch.device) -> Any:
        if self.dry_run:
            return load_pipeline(str(self._tiny_dir), torch.float32)
        dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
        with on:
            pipe = build_pipeline(FULL_TURBO, build_tokenizer(), variant="turbo")
        return pipe.to(dtype=dtype)

    def engine(self, pipe: Any, **options: Any) -> AceStepEngine:
        return engine_from_pipeline(pipe, model=self.full_name, device=self.device, **options)

    # -- the checks -----------------------------------------------------------------------------

    def sizes_rows(self, engine: AceStepEngine) -> None:
        sizes = self.sizes
        engine.generate(requests(min(sizes.durations), 1))  # untimed: first-call kernel set-up
        for seconds in sizes.durations:
            for batch in sizes.batches:
                if self.elapsed() > self.budget:
                    self.add(Row("sizes", self.full_name, f"{seconds:g} s", str(batch), result="skipped: budget"))
                    continue
                try:
                    _, wall = self.timed(lambda s=seconds, b=batch: engine.generate(requests(s, b)))
                except torch.OutOfMemoryError:
                    torch.cuda.empty_cache()
                    self.add(Row("sizes", self.full_name, f"{seconds:g} s", str(batch), result="out of memory"))
                    continue
                self.add_generation("sizes", self.full_name, seconds, batch, wall)

    def precision_rows(self) -> None:
        tiny = "tiny"
        outputs: dict[str, list[np.ndarray]] = {}
        latent_dtype = ""
        for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            pipe = load_pipeline(str(self._tiny_dir), dtype)
            engine = engine_from_pipeline(pipe, model=tiny, device=self.device, max_batch_size=2, warmup=False)
            batch = requests(10.0, 1, seed=7)
            results, wall = self.timed(lambda e=engine, b=batch: e.generate(b))
            outputs[name] = [r.audio for r in results]
            if name == "bf16":
                with torch.no_grad():
                    latents = engine.runner.denoise([engine.plan(batch[0])])
                latent_dtype = str(latents.dtype if latents is not None else None).removeprefix("torch.")
            self.add(Row("bf16 vs fp32", f"{tiny} {name}", "10 s", "1", f"{wall:.2f}", f"{wall / 10:.4f}", self.peak()))
            del engine, pipe
        diffs = [b - a for a, b in zip(outputs["fp32"], outputs["bf16"], strict=True)]
        rel = max(
            float(np.linalg.norm(d) / max(np.linalg.norm(a), 1e-12))
            for d, a in zip(diffs, outputs["fp32"], strict=True)
        )
        largest = max(float(np.abs(d).max()) for d in diffs)
        ok = rel < BF16_MAX_RELATIVE_L2 and latent_dtype == "float32"
        self.failed |= not ok
        verdict = "pass" if ok else "FAIL"
        self.add(
            Row(
                "bf16 vs fp32",
                tiny,
                "10 s",
                "1",
                result=f"{verdict}: relative L2 {rel:.4f} (limit {BF16_MAX_RELATIVE_L2}), "
                f"largest difference {largest:.4f}, latents between steps under bf16: {latent_dtype}",
            )
        )

    def tiling_rows(self, engine: AceStepEngine) -> None:
        vae = engine.pipeline.vae
        frames = int(self.sizes.vae_seconds * engine.pipeline.latents_per_second)
        channels = int(engine.pipeline.transformer.config.audio_acoustic_hidden_dim)
        generator = torch.Generator().manual_seed(0)
        latents = torch.randn((1, channels, frames), generator=generator).to(device=self.device, dtype=vae.dtype)
        was_tiled = bool(getattr(vae, "use_tiling", False))
        decoded: dict[str, torch.Tensor] = {}
        try:
            for name, tiled in (("one piece", False), ("tiled", True)):
                if tiled:
                    vae.enable_tiling()
                else:
                    vae.disable_tiling()
                try:
                    with torch.no_grad():
                        out, wall = self.timed(lambda: vae.decode(latents).sample)
                except torch.OutOfMemoryError:
                    torch.cuda.empty_cache()
                    self.add(
                        Row("VAE tiling", self.full_name, f"{self.sizes.vae_seconds:g} s", "1", result=f"{name}: OOM")
                    )
                    continue
                decoded[name] = out.float().cpu()
                seconds = self.sizes.vae_seconds
                self.add(
                    Row(
                        "VAE tiling",
                        self.full_name,
                        f"{seconds:g} s",
                        "1",
                        f"{wall:.2f}",
                        f"{wall / seconds:.4f}",
                        self.peak(),
                        f"decoded {name}",
                    )
                )
        finally:
            if was_tiled:
                vae.enable_tiling()
            else:
                vae.disable_tiling()
        if len(decoded) == 2:
            one, tiled_out = decoded["one piece"], decoded["tiled"]
            rel = float((tiled_out - one).norm() / one.norm().clamp_min(1e-12))
            self.add(
                Row(
                    "VAE tiling",
                    self.full_name,
                    f"{self.sizes.vae_seconds:g} s",
                    "1",
                    result=f"tiled vs one piece: relative L2 {rel:.4f}, same length: {one.shape == tiled_out.shape}",
                )
            )

    def compile_rows(self, pipe: Any) -> None:
        sizes = self.sizes
        name = f"{self.full_name}, compiled ({sizes.compile_backend})"
        (engine, wall) = self.timed(
            lambda: self.engine(
                pipe, compile=True, compile_backend=sizes.compile_backend, max_batch_size=sizes.compile_batch
            )
        )
        report, watch = engine.warmup_report, engine.compile_watch
        assert report is not None and watch is not None
        self.add(
            Row(
                "compile",
                name,
                wall=f"{wall:.2f}",
                peak=self.peak(),
                result=f"warm-up: {report.shapes} DiT shapes in {report.classes} classes, {report.graphs} graphs, "
                f"{report.seconds:.1f} s (load and warm-up {wall:.1f} s)",
            )
        )
        seconds = sizes.compile_seconds
        for batch in sorted({1, sizes.compile_batch}):
            _, wall = self.timed(lambda b=batch: engine.generate(requests(seconds, b)))
            self.add_generation("compile", name, seconds, batch, wall)
        spread = [
            requests(seconds + 0.04, 1),  # an odd frame count
            requests(seconds, sizes.compile_batch, prompts=(PROMPT, LONG_PROMPT)),  # masked when batched
            requests(seconds + 0.04, sizes.compile_batch, prompts=(LONG_PROMPT,)),
        ]
        for batch in spread:
            engine.generate(batch)
        ok = watch.after_warmup == 0
        self.failed |= not ok
        self.add(
            Row(
                "compile",
                name,
                result=f"{'pass' if ok else 'FAIL'}: {watch.after_warmup} graphs compiled after the warm-up "
                f"({len(spread)} more batches: odd frames, masked conditions)",
            )
        )

    def offload_rows(self) -> None:
        staging = torch.device("cuda") if self.device.type == "cuda" else torch.device("cpu")
        pipe = self.full_pipe(staging).to("cpu")  # built on the GPU (fast random init), then moved out
        engine = self.engine(pipe, cpu_offload=True, warmup=False)
        offloaded = self.device.type != "cpu"
        seconds = 30.0 if not self.dry_run else 10.0
        if not self.dry_run:
            engine.generate(requests(10.0, 1))  # untimed: first call
        _, wall = self.timed(lambda e=engine: e.generate(requests(seconds, 1)))
        self.add(
            Row(
                "CPU offload",
                self.full_name,
                f"{seconds:g} s",
                "1",
                f"{wall:.2f}",
                f"{wall / seconds:.4f}",
                self.peak(),
                "model CPU offload" if offloaded else "ignored on the CPU (dry run): the engine runs there anyway",
            )
        )
        del engine, pipe

    def run(self) -> int:
        print(
            f"aceserve GPU check on {self.device} ({_device_name(self.device)}), torch {torch.__version__}, "
            f"budget {self.budget:.0f} s{' — DRY RUN: tiny model on the CPU' if self.dry_run else ''}",
            flush=True,
        )
        print(" | ".join(_cells(HEADER)), flush=True)
        state: dict[str, Any] = {}

        def sizes() -> None:
            pipe = self.full_pipe(self.device)
            state["pipe"] = pipe
            state["engine"] = self.engine(pipe, max_batch_size=max(self.sizes.batches))
            self.sizes_rows(state["engine"])

        self.section("sizes", self.full_name, sizes)
        self.section("bf16 vs fp32", "tiny", self.precision_rows)
        if "engine" in state:
            self.section("VAE tiling", self.full_name, lambda: self.tiling_rows(state["engine"]))
            self.section("compile", self.full_name, lambda: self.compile_rows(state["pipe"]))
        state.clear()
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        self.section("CPU offload", self.full_name, self.offload_rows)
        print(
            f"\n{len(self.rows)} rows in {self.elapsed():.0f} s; {'some checks FAILED' if self.failed else 'all ran'}"
        )
        return 1 if self.failed else 0


def _cells(row: Row) -> list[str]:
    return [row.check, row.model, row.audio, row.batch, row.wall, row.rtf, row.peak, row.result]


def markdown(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(_cells(HEADER)) + " |", "|" + "---|" * len(_cells(HEADER))]
    lines += ["| " + " | ".join(_cells(r)) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{torch.get_num_threads()} CPU threads"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny model, tiny sizes: every row, quickly")
    parser.add_argument("--device", default="auto", help="cuda, cuda:N (default: cuda when there is one)")
    parser.add_argument("--budget", type=float, default=540.0, help="seconds after which remaining rows are skipped")
    parser.add_argument("--markdown", type=Path, help="also write the table here as Markdown")
    args = parser.parse_args(argv)
    device = torch.device("cpu") if args.dry_run else resolve_device(args.device)
    if device.type != "cuda" and not args.dry_run:
        print("No CUDA device here: run on a GPU machine, or pass --dry-run for the CPU rehearsal.", file=sys.stderr)
        return 2
    check = GpuCheck(device, DRY if args.dry_run else FULL, args.budget, args.dry_run)
    status = check.run()
    table = markdown(check.rows)
    print("\n" + table)
    if args.markdown is not None:
        args.markdown.write_text(table)
    return status


def _quiet() -> None:
    from diffusers.utils import logging as diffusers_logging

    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning)
    diffusers_logging.disable_progress_bar()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("aceserve.engine.loader").setLevel(logging.INFO)
    logging.getLogger("diffusers").setLevel(logging.ERROR)
    logging.getLogger("transformers").setLevel(logging.ERROR)


if __name__ == "__main__":
    _quiet()
    sys.exit(main(sys.argv[1:]))

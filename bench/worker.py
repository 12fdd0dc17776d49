"""Worker throughput benchmark (not a test): prints figures, asserts nothing.

    python bench/worker.py [--model PATH|tiny] [--random-weights] [--device cpu] [--torch-threads 1]
                           [--steps 8] [--batch 4] [--repeat 1] [--encode-workers 0]
                           [--database-url URL] [--modes on off]

The real worker loop (``aceserve.worker.loop.Worker``: claim, prepare, ``Engine.generate``, encode,
store, complete on a real database and local files) runs one queue of mixed tasks with pipelining on
and off, one model load for both, and prints for each:

- throughput: seconds of audio delivered per wall second (first claim to last task ended);
- the device's busy fraction: seconds inside ``Engine.generate`` over wall seconds;
- seconds per stage (prepare, generate, encode, store), summed over the threads that ran them.

The queue (``--repeat`` times): eight 60 s txt2audio mp3 (two batches of four), four 30 s mp3, two
60 s wav, two audio2audio mp3 from a 30 s WAV given inline (decoded by the worker). All tasks are
created before the worker starts. torch is limited to ``--torch-threads`` threads (default 1), so on
a small CPU machine a core is left for encoding, as a GPU leaves the CPU free.

It first times the encoders alone: four 60 s mp3 encodes serially, on two threads, and on two
``IsolatedEncoder`` helper processes: whether LAME releases the GIL (threads scale) and what a helper
process costs per output.
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from aceserve.domain.inputs import parse_create_request
from aceserve.domain.states import OutputFormat
from aceserve.engine.types import Engine
from aceserve.media import SAMPLE_RATE, encode_audio
from aceserve.media.isolated import IsolatedEncoder
from aceserve.media.probing import InProcessProber
from aceserve.settings import Settings, available_cores
from aceserve.storage import open_storage
from aceserve.store import accounts
from aceserve.store.migrate import open_database
from aceserve.store.models import Task
from aceserve.store.submit import TaskSubmitter
from aceserve.store.wakeup import Wakeup
from aceserve.worker.loop import Worker
from aceserve.worker.stages import Stage

PROMPT = "energetic synth pop with punchy drums"


def task_bodies(steps: int, repeat: int, tasks: int = 0) -> list[dict[str, Any]]:
    wav = encode_audio(tone(30.0), fmt=OutputFormat.WAV)
    inline = "data:audio/wav;base64," + base64.b64encode(wav).decode()

    def txt(duration: int, fmt: str) -> dict[str, Any]:
        return {
            "model": "Qubico/ace-step",
            "task_type": "txt2audio",
            "input": {"style_prompt": PROMPT, "duration": duration, "infer_steps": steps, "output_format": fmt},
        }

    a2a = {
        "model": "Qubico/ace-step",
        "task_type": "audio2audio",
        "input": {"style_prompt": PROMPT, "style_audio": inline, "infer_steps": steps, "output_format": "mp3"},
    }
    one = [txt(60, "mp3")] * 8 + [txt(30, "mp3")] * 4 + [txt(60, "wav")] * 2 + [a2a] * 2
    return (one * repeat)[:tasks] if tasks else one * repeat


def tone(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    left = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * np.random.default_rng(0).standard_normal(t.size)
    return np.stack([left, np.roll(left, 100)]).astype(np.float32)


def run_mode(
    engine: Engine, bodies: list[dict[str, Any]], *, pipelining: bool, args: argparse.Namespace, root: Path
) -> dict[str, Any]:
    data_dir = root / ("on" if pipelining else "off")
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "model": "bench",
        "device": str(engine.info.device),
        "max_batch_size": args.batch,
        "pipelining": pipelining,
        "encode_workers": args.encode_workers,
        "poll_seconds": 0.2,
        "max_queued_tasks": 10**6,
        "allow_private_fetch": True,
    }
    if args.database_url:
        values["database_url"] = args.database_url
    settings = Settings(**values)
    data_dir.mkdir(parents=True, exist_ok=True)
    db = open_database(settings.database_url)
    storage = open_storage(settings.storage_url, files_dir=settings.files_dir, s3_endpoint_url="")
    wakeup = Wakeup()
    with db.write() as session:
        account = accounts.create_account(session, f"bench-{time.time_ns()}", credits_usd=None, max_concurrent=10**6)
        account_id = account.id
    submitter = TaskSubmitter(settings, db, storage, wakeup, InProcessProber())  # the bench queues trusted audio
    ids = [submitter.submit(account_id, parse_create_request(body))["task_id"] for body in bodies]
    worker = Worker(settings, db, storage, wakeup, lambda: engine, device=settings.device)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    load = os.getloadavg()[0]
    while True:
        with db.read() as session:
            rows = [session.get(Task, task_id) for task_id in ids]
            done = [row for row in rows if row is not None and row.ended_at is not None]
            if len(done) == len(ids):
                started = min(row.started_at for row in done if row.started_at is not None)
                ended = max(row.ended_at for row in done if row.ended_at is not None)
                audio = sum(float((row.meta_extra or {}).get("duration", 0.0)) for row in done)
                failed = [row.id for row in done if row.status != "completed"]
                break
        time.sleep(0.1)
    stop.set()
    wakeup.notify()
    thread.join(120)
    db.dispose()
    wall = (ended - started).total_seconds()
    stages = worker.clock.seconds()
    return {
        "mode": "on" if pipelining else "off",
        "wall": wall,
        "audio": audio,
        "throughput": audio / wall,
        "busy": stages[Stage.GENERATE] / wall,
        "stages": stages,
        "failed": failed,
        "encode_threads": settings.encode_pool_size if pipelining else 0,
        "load": (load + os.getloadavg()[0]) / 2,
    }


def encoder_scaling(clips: int = 4, seconds: float = 60.0) -> None:
    audio = tone(seconds)
    encode_audio(audio)  # load LAME once

    def timed(call: Callable[[], object]) -> float:
        started = time.perf_counter()
        call()
        return time.perf_counter() - started

    serial = timed(lambda: [encode_audio(audio) for _ in range(clips)])
    with ThreadPoolExecutor(2) as pool:
        threads = timed(lambda: list(pool.map(lambda _: encode_audio(audio), range(clips))))
    encoders = [IsolatedEncoder(), IsolatedEncoder()]
    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda e: e.encode(audio, sample_rate=SAMPLE_RATE, fmt=OutputFormat.MP3), encoders))
            processes = timed(
                lambda: list(
                    pool.map(
                        lambda i: encoders[i % 2].encode(audio, sample_rate=SAMPLE_RATE, fmt=OutputFormat.MP3),
                        range(clips),
                    )
                )
            )
        one_isolated = statistics.median(
            timed(lambda: encoders[0].encode(audio, sample_rate=SAMPLE_RATE, fmt=OutputFormat.MP3)) for _ in range(3)
        )
    finally:
        for encoder in encoders:
            encoder.close()
    one_inline = statistics.median(timed(lambda: encode_audio(audio)) for _ in range(3))
    print(f"encoders alone: {clips} x {seconds:g} s mp3 (load {os.getloadavg()[0]:.1f} on {available_cores()} cores)")
    print(f"  serial, one thread         {serial:6.2f} s")
    print(f"  two threads, in process    {threads:6.2f} s  ({serial / threads:.2f}x)")
    print(f"  two helper processes       {processes:6.2f} s  ({serial / processes:.2f}x)")
    print(f"  one output: in process {one_inline:.3f} s, in a helper process {one_isolated:.3f} s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny", help="checkpoint directory or 'tiny' (built in a temp dir)")
    parser.add_argument("--random-weights", action="store_true", help="full-size turbo configuration, random")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=8, help="denoising steps per task")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=1, help="times the 16-task queue is repeated")
    parser.add_argument("--tasks", type=int, default=0, help="only the first N tasks of the queue (0: all)")
    parser.add_argument("--encode-workers", type=int, default=0, help="0: cores less one")
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file per mode")
    parser.add_argument("--modes", nargs="+", choices=["on", "off"], default=["on", "off"])
    parser.add_argument("--skip-encoders", action="store_true", help="skip the encoders-alone figures")
    args = parser.parse_args(argv)
    import torch  # here, not at the top: the encoders' helper processes re-import this script

    torch.set_num_threads(args.torch_threads)
    if not args.skip_encoders:
        encoder_scaling()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        engine = build_engine(args, root)
        bodies = task_bodies(args.steps, args.repeat, args.tasks)
        print(
            f"worker: {len(bodies)} tasks, batches of {args.batch}, {args.steps} steps, {engine.info.model} on "
            f"{engine.info.device}, torch threads {torch.get_num_threads()}, {available_cores()} cores"
        )
        results = [run_mode(engine, bodies, pipelining=mode == "on", args=args, root=root) for mode in args.modes]
    print(
        f"{'pipelining':>10} {'wall s':>7} {'audio s':>8} {'audio s/s':>9} {'busy':>6} "
        + " ".join(f"{stage.value + ' s':>10}" for stage in Stage)
        + f" {'encoders':>8} {'load':>5}"
    )
    for r in results:
        print(
            f"{r['mode']:>10} {r['wall']:7.2f} {r['audio']:8.0f} {r['throughput']:9.1f} {r['busy']:6.1%} "
            + " ".join(f"{r['stages'][stage]:10.2f}" for stage in Stage)
            + f" {r['encode_threads']:8d} {r['load']:5.1f}"
            + (f"  FAILED: {r['failed']}" if r["failed"] else "")
        )
    if len(results) == 2 and results[1]["busy"] > 0:
        on, off = results
        print(
            f"pipelining on / off: busy fraction {on['busy'] / off['busy']:.2f}x, "
            f"throughput {on['throughput'] / off['throughput']:.2f}x"
        )


def build_engine(args: argparse.Namespace, root: Path) -> Engine:
    import torch

    from aceserve.engine.loader import load_engine
    from aceserve.engine.tiny import make_tiny_checkpoint

    if args.random_weights:
        from engine import random_full_engine  # bench/engine.py, beside this script

        return random_full_engine(torch.device(args.device), args.batch)
    model = args.model
    if model == "tiny":
        model = str(root / "tiny-model")
        make_tiny_checkpoint(Path(model), lm=False)  # worker throughput, not planning
    return load_engine(model, device=args.device, max_batch_size=args.batch, lm="none")


if __name__ == "__main__":
    main()

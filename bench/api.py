"""API and queue benchmark (not a test): prints figures, asserts nothing.

    python bench/api.py [--requests 500] [--concurrency 8] [--database-url URL] [--latency-tasks 30]

1. Create and get requests per second against the API alone (no worker), over real HTTP on loopback.
2. Latency from create to a worker's start with one idle worker running the tiny checkpoint: the
   task's ``started_at - created_at``, both stamped by the server. Target: median under 50 ms on SQLite.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from aceserve.api.app import create_app
from aceserve.cli.background import WorkerService
from aceserve.cli.embedded import serve_in_thread
from aceserve.cli.running import engine_factory
from aceserve.settings import Settings
from aceserve.store import accounts
from aceserve.store.migrate import open_database

BODY = {"model": "Qubico/ace-step", "task_type": "txt2audio", "input": {"style_prompt": "lofi", "duration": 10}}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_key(settings: Settings) -> str:
    db = open_database(settings.database_url)
    with db.write() as session:
        account = accounts.create_account(session, f"bench-{time.time_ns()}", credits_usd=None, max_concurrent=10**6)
        key = accounts.create_key(session, account).secret
    db.dispose()
    return key


def settings_for(data_dir: Path, database_url: str, **extra: Any) -> Settings:
    values: dict[str, Any] = {"data_dir": data_dir, "port": free_port(), "max_queued_tasks": 10**6, **extra}
    if database_url:
        values["database_url"] = database_url
    return Settings(**values)


def timed(concurrency: int, count: int, call: Any) -> tuple[float, list[httpx.Response]]:
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        responses = list(pool.map(lambda _: call(), range(count)))
    rate = count / (time.perf_counter() - start)
    for response in responses:
        response.raise_for_status()
    return rate, responses


def throughput(args: argparse.Namespace, data_dir: Path) -> None:
    settings = settings_for(data_dir / "throughput", args.database_url, workers=0)
    key = make_key(settings)
    with serve_in_thread(create_app(settings), settings):
        limits = httpx.Limits(max_connections=args.concurrency)
        with httpx.Client(base_url=settings.public_url, headers={"x-api-key": key}, limits=limits) as client:
            task_id = client.post("/api/v1/task", json=BODY).json()["data"]["task_id"]
            creates, created = timed(args.concurrency, args.requests, lambda: client.post("/api/v1/task", json=BODY))
            gets, _ = timed(args.concurrency, args.requests, lambda: client.get(f"/api/v1/task/{task_id}"))
            # Cancel what was created, so a shared database leaves no backlog for the latency run.
            for response in [*created]:
                client.delete(f"/api/v1/task/{response.json()['data']['task_id']}")
            client.delete(f"/api/v1/task/{task_id}")
    print(f"create: {creates:8.1f} requests/s  ({args.requests} requests, {args.concurrency} clients)")
    print(f"get:    {gets:8.1f} requests/s")


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def start_latency(args: argparse.Namespace, data_dir: Path) -> None:
    settings = settings_for(data_dir / "latency", args.database_url, model="tiny", device="cpu")
    model_dir = settings.data_dir / "tiny-model"
    from aceserve.engine.tiny import make_tiny_checkpoint

    make_tiny_checkpoint(model_dir, lm=False)  # API latency, not planning
    key = make_key(settings)
    worker = WorkerService(engine_factory(settings, str(model_dir), "cpu"), "cpu")
    latencies: list[float] = []
    with serve_in_thread(create_app(settings, background=[worker]), settings):
        worker.created.wait(60)
        assert worker.worker is not None
        worker.worker.ready.wait(300)
        with httpx.Client(base_url=settings.public_url, headers={"x-api-key": key}) as client:
            for _ in range(args.latency_tasks):
                task_id = client.post("/api/v1/task", json=BODY).json()["data"]["task_id"]
                while True:  # wait until it has finished, so the worker is idle for the next one
                    task = client.get(f"/api/v1/task/{task_id}").json()["data"]
                    if task["status"] in ("completed", "failed"):
                        break
                    time.sleep(0.02)
                meta = task["meta"]
                latencies.append((parse_time(meta["started_at"]) - parse_time(meta["created_at"])).total_seconds())
    ms = sorted(1000 * value for value in latencies)
    print(
        f"create -> worker start, idle worker ({len(ms)} tasks): median {statistics.median(ms):.1f} ms, "
        f"p90 {ms[int(0.9 * (len(ms) - 1))]:.1f} ms, max {ms[-1]:.1f} ms  (target: median < 50 ms on SQLite)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency-tasks", type=int, default=30)
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aceserve-bench-") as tmp:
        print(f"backend: {args.database_url.split('://')[0] if args.database_url else 'sqlite'}")
        throughput(args, Path(tmp))
        start_latency(args, Path(tmp))


if __name__ == "__main__":
    main()

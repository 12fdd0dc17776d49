"""Task event latency benchmark (not a test): prints figures, asserts nothing.

    python bench/events.py [--changes 40] [--database-url postgresql://.../h8_db]

The time from a task change's commit (a worker's progress write, made here through the store's own
``queue.heartbeat``) to a client reading the matching event from ``GET /api/v1/task/{id}/events``:

1. SQLite, the API in this process: woken at commit by the in-process feed.
2. SQLite, the API in another process (`aceserve api`): seen by its short poll (``events_poll_seconds``).
3. PostgreSQL (with ``--database-url``), the API in another process: LISTEN/NOTIFY.

Both ends use this machine's monotonic clock, which processes share.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from aceserve.api.app import create_app
from aceserve.cli.embedded import serve_in_thread
from aceserve.settings import Settings
from aceserve.store import accounts
from aceserve.store import queue as task_queue
from aceserve.store.db import Database
from aceserve.store.migrate import open_database

BODY = {"model": "Qubico/ace-step", "task_type": "txt2audio", "input": {"style_prompt": "lofi", "duration": 10}}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_key(database_url: str) -> str:
    db = open_database(database_url)
    with db.write() as session:
        account = accounts.create_account(session, f"bench-{time.time_ns()}", credits_usd=None, max_concurrent=10**6)
        key = accounts.create_key(session, account).secret
    db.dispose()
    return key


@contextmanager
def api_in_process(data_dir: Path, database_url: str) -> Iterator[str]:
    port = free_port()
    settings = Settings(data_dir=data_dir, database_url=database_url, port=port, workers=0, log_level="warning")
    with serve_in_thread(create_app(settings), settings):
        yield f"http://127.0.0.1:{port}"


@contextmanager
def api_process(data_dir: Path, database_url: str) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "aceserve", "api", "--port", str(port), "--data-dir", str(data_dir)]
    env = {**os.environ, "ACESERVE_DATABASE_URL": database_url, "ACESERVE_LOG_LEVEL": "warning"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health/live").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("aceserve api did not start")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(60)


def read_events(url: str, key: str, task_id: str, seen: queue.Queue[tuple[float, dict[str, object]]]) -> None:
    with (
        httpx.Client(timeout=httpx.Timeout(30, read=None)) as client,
        client.stream("GET", f"{url}/api/v1/task/{task_id}/events", headers={"x-api-key": key}) as response,
    ):
        for line in response.iter_lines():
            if line.startswith("data:"):
                seen.put((time.monotonic(), json.loads(line[5:])))


def measure(url: str, database_url: str, changes: int) -> list[float]:
    """Milliseconds from each progress write's commit to the client reading its event."""
    key = make_key(database_url)
    task_id = httpx.post(f"{url}/api/v1/task", json=BODY, headers={"x-api-key": key}).json()["data"]["task_id"]
    db = Database(database_url)
    seen: queue.Queue[tuple[float, dict[str, object]]] = queue.Queue()
    threading.Thread(target=read_events, args=(url, key, task_id, seen), daemon=True).start()
    seen.get(timeout=30)  # the first event: the task as it is
    (lease,) = task_queue.claim(db, owner="bench", lease_seconds=600)
    seen.get(timeout=30)  # processing
    latencies = []
    for step in range(1, changes + 1):
        time.sleep(0.05 + (step % 7) * 0.03)  # changes at irregular moments, not in step with any poll
        progress = step / (changes + 1)
        task_queue.heartbeat(db, lease, lease_seconds=600, progress=progress)
        committed = time.monotonic()
        while True:
            at, task = seen.get(timeout=30)
            meta = task["meta"]
            assert isinstance(meta, dict)
            if abs(float(meta.get("progress", 0)) - round(progress, 4)) < 1e-6:
                latencies.append((at - committed) * 1000)
                break
    task_queue.fail(db, lease, message="bench over", retryable=False, max_attempts=1)
    db.dispose()
    return latencies


def report(name: str, latencies: list[float]) -> None:
    ordered = sorted(latencies)
    p90 = ordered[int(0.9 * (len(ordered) - 1))]
    print(
        f"{name:<38} median {statistics.median(ordered):7.1f} ms   p90 {p90:7.1f} ms   "
        f"max {ordered[-1]:7.1f} ms   (n={len(ordered)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=40)
    parser.add_argument("--database-url", default="", help="PostgreSQL URL for the third measurement")
    args = parser.parse_args()
    print(f"event latency: change committed -> event read by the client ({os.cpu_count()} CPUs)")
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        open_database(sqlite).dispose()
        with api_in_process(Path(tmp) / "a", sqlite) as url:
            report("SQLite, API in the writer's process", measure(url, sqlite, args.changes))
        with api_process(Path(tmp) / "b", sqlite) as url:
            report("SQLite, API in another process (poll)", measure(url, sqlite, args.changes))
        if args.database_url:
            open_database(args.database_url).dispose()
            with api_process(Path(tmp) / "c", args.database_url) as url:
                report("PostgreSQL, API in another process", measure(url, args.database_url, args.changes))


if __name__ == "__main__":
    main()

"""API benchmark (not a test): prints figures, asserts nothing.

    python bench/api.py [--backend sqlite|postgresql|both] [--postgres-url URL] [--seconds 5] [--rounds 3]
                        [--connections 16] [--api-workers 1]

aceserve (``aceserve api``, a process of its own) and a minimal reference app (``bench/reference.py``:
FastAPI on the same uvicorn, an ``x-api-key`` check, one query, one insert) run side by side on loopback;
``wrk`` (another process again) loads each in turn, alternating for ``--rounds`` rounds, and the bench
prints requests/s and p50/p99 latency (medians over the rounds) and aceserve's ratio to the reference:

1. ``GET /api/v1/task/{id}`` of a pending task;
2. ``POST /api/v1/task`` (txt2audio, an account with metered credit: freeze and ledger row each time);
3. the GET again while an ``aceserve worker`` (tiny checkpoint, CPU) completes tasks fed to it.

Both backends: SQLite (a fresh file for each app) and PostgreSQL (``--postgres-url``, a database of your
own: the bench adds an account and the reference's two tables ``ref_keys``/``ref_tasks``, and fails the
tasks it queued when it ends). Needs ``wrk`` on the PATH (Debian/Ubuntu: ``apt-get install wrk``;
``make bench`` installs it). On a shared machine take the ratio, not the absolute figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from aceserve.store import accounts
from aceserve.store.migrate import open_database

BENCH_DIR = Path(__file__).parent
BODY = {"model": "Qubico/ace-step", "task_type": "txt2audio", "input": {"style_prompt": "lofi", "duration": 10}}
REPORT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK {"requests": %d, "seconds": %f, "p50_ms": %f, "p99_ms": %f, "errors": %d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


@dataclass
class Figure:
    rate: float
    p50: float
    p99: float
    errors: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wrk(url: str, key: str, *, seconds: float, connections: int, body: dict[str, Any] | None = None) -> Figure:
    script = REPORT
    if body is not None:
        payload = json.dumps(json.dumps(body))  # a Lua string literal
        script = f'wrk.method = "POST"\nwrk.body = {payload}\nwrk.headers["Content-Type"] = "application/json"\n'
        script += REPORT
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "-H", f"x-api-key: {key}", "-s", handle.name, url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(handle.name)
    line = next(line for line in out.splitlines() if line.startswith("WRK "))
    data = json.loads(line[4:])
    return Figure(data["requests"] / data["seconds"], data["p50_ms"], data["p99_ms"], data["errors"])


def wait_until_up(url: str, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with status {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not start")


@contextmanager
def process(args: list[str], env: dict[str, str], up_url: str | None, what: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(args, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        if up_url is not None:
            wait_until_up(up_url, proc, what)
        yield proc
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def aceserve_env(data_dir: Path, database_url: str, port: int) -> dict[str, str]:
    return {
        "ACESERVE_DATA_DIR": str(data_dir),
        "ACESERVE_DATABASE_URL": database_url,
        "ACESERVE_HOST": "127.0.0.1",
        "ACESERVE_PORT": str(port),
        "ACESERVE_LOG_LEVEL": "warning",  # the reference runs at the same level
        "ACESERVE_MAX_QUEUED_TASKS": str(10**7),
        "ACESERVE_MAX_QUEUED_PER_ACCOUNT": str(10**7),  # the bench account queues every create
    }


def aceserve_bin() -> str:
    return str(Path(sys.executable).parent / "aceserve")


def new_key(database_url: str) -> tuple[str, str]:
    """A key of a new account with metered credit (every create freezes and writes the ledger)."""
    db = open_database(database_url)
    with db.write() as session:
        name = f"bench-{time.time_ns()}"
        account = accounts.create_account(session, name, credits_usd=10**6, max_concurrent=10)
        key = accounts.create_key(session, account).secret
        account_id = account.id
    db.dispose()
    return key, account_id


def drain(database_url: str, account_id: str) -> None:
    """End the bench account's queued tasks, so the queue does not grow from round to round."""
    db = open_database(database_url)
    with db.write() as session:
        session.execute(
            text("UPDATE tasks SET status = 'failed' WHERE account_id = :id AND status IN ('pending', 'staged')"),
            {"id": account_id},
        )
    db.dispose()


@contextmanager
def reference_tables(database_url: str, *, drop: bool) -> Iterator[None]:
    """Drops the reference's tables at the end, when they live in a database that stays (PostgreSQL)."""
    try:
        yield
    finally:
        if drop:
            db = open_database(database_url)
            with db.write() as session:
                session.execute(text("DROP TABLE IF EXISTS ref_tasks"))
                session.execute(text("DROP TABLE IF EXISTS ref_keys"))
            db.dispose()


def median_figure(figures: list[Figure]) -> Figure:
    return Figure(
        statistics.median(f.rate for f in figures),
        statistics.median(f.p50 for f in figures),
        statistics.median(f.p99 for f in figures),
        sum(f.errors for f in figures),
    )


class Feeder(threading.Thread):
    """Creates a task every ``interval`` seconds, so the worker always has work."""

    def __init__(self, url: str, key: str, interval: float) -> None:
        super().__init__(daemon=True)
        self.url, self.key, self.interval = url, key, interval
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(headers={"x-api-key": self.key}, timeout=30) as client:
            while not self.stop.wait(self.interval):
                client.post(f"{self.url}/api/v1/task", json=BODY)


def completed_between(database_url: str, account_id: str, start: float, end: float) -> int:
    from datetime import UTC, datetime

    db = open_database(database_url)
    with db.read() as session:
        count = session.execute(
            text(
                "SELECT count(*) FROM tasks WHERE account_id = :id AND status = 'completed' "
                "AND ended_at >= :start AND ended_at < :end"
            ),
            {
                "id": account_id,
                "start": datetime.fromtimestamp(start, UTC).replace(tzinfo=None),
                "end": datetime.fromtimestamp(end, UTC).replace(tzinfo=None),
            },
        ).scalar()
    db.dispose()
    return int(count or 0)


def run_backend(backend: str, args: argparse.Namespace, tmp: Path) -> list[tuple[str, Figure, Figure]]:
    if backend == "sqlite":
        ace_url = f"sqlite:///{tmp / 'aceserve.sqlite3'}"
        ref_url = f"sqlite:///{tmp / 'reference.sqlite3'}"
    else:
        ace_url = ref_url = args.postgres_url
    key, account_id = new_key(ace_url)
    ace_port, ref_port = free_port(), free_port()
    ace = f"http://127.0.0.1:{ace_port}"
    ref = f"http://127.0.0.1:{ref_port}"
    api_args = [aceserve_bin(), "api", *(["--workers", str(args.api_workers)] if args.api_workers != 1 else [])]
    ref_args = [sys.executable, str(BENCH_DIR / "reference.py"), "--database-url", ref_url, "--port", str(ref_port)]
    rows: list[tuple[str, Figure, Figure]] = []
    env = aceserve_env(tmp / "data", ace_url, ace_port)
    with (
        reference_tables(ref_url, drop=backend == "postgresql"),
        process(api_args, env, f"{ace}/health/live", "aceserve api"),
        process(ref_args, {}, f"{ref}/docs", "the reference app"),
    ):
        created = httpx.post(f"{ace}/api/v1/task", json=BODY, headers={"x-api-key": key}, timeout=30)
        created.raise_for_status()
        task_id = created.json()["data"]["task_id"]
        task_json = json.dumps(httpx.get(f"{ace}/api/v1/task/{task_id}", headers={"x-api-key": key}).json()["data"])
        sys.path.insert(0, str(BENCH_DIR))
        from reference import seed

        ref_task = seed(ref_url, key, task_json)

        def measure(name: str, body: dict[str, Any] | None) -> tuple[Figure, Figure]:
            ref_figures, ace_figures = [], []
            for _ in range(args.rounds):
                path_ref = "/api/v1/task" if body else f"/api/v1/task/{ref_task}"
                path_ace = "/api/v1/task" if body else f"/api/v1/task/{task_id}"
                common = {"seconds": args.seconds, "connections": args.connections, "body": body}
                ref_figures.append(wrk(ref + path_ref, key, **common))  # type: ignore[arg-type]
                ace_figures.append(wrk(ace + path_ace, key, **common))  # type: ignore[arg-type]
                if body:
                    drain(ace_url, account_id)
            return median_figure(ref_figures), median_figure(ace_figures)

        if "get" in args.measures:
            rows.append(("GET", *measure("get", None)))
        if "create" in args.measures:
            rows.append(("create", *measure("create", BODY)))
            drain(ace_url, account_id)
        if "worker" not in args.measures:
            return rows
        # GET while a worker completes tasks.
        model_dir = tmp / "tiny-model"
        if not (model_dir / "model_index.json").is_file():
            subprocess.run([aceserve_bin(), "model", "make-tiny", str(model_dir)], check=True, capture_output=True)
        worker_env = {**env, "ACESERVE_MODEL": str(model_dir), "ACESERVE_DEVICE": "cpu", "OMP_NUM_THREADS": "1"}
        with process([aceserve_bin(), "worker"], worker_env, None, "aceserve worker"):
            feeder = Feeder(ace, key, args.feed_interval)
            feeder.start()
            time.sleep(args.worker_warmup)
            start = time.time()
            ref_fig, ace_fig = measure("get+worker", None)
            done = completed_between(ace_url, account_id, start, time.time())
            feeder.stop.set()
            feeder.join()
        rows.append((f"GET, worker busy ({done} completed)", ref_fig, ace_fig))
        drain(ace_url, account_id)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--postgres-url", default=os.environ.get("ACESERVE_BENCH_POSTGRES_URL", ""))
    parser.add_argument("--seconds", type=float, default=5.0, help="length of one wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs per app and measure")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--api-workers", type=int, default=1, help="aceserve api --workers")
    parser.add_argument("--feed-interval", type=float, default=0.25, help="seconds between fed tasks")
    parser.add_argument("--worker-warmup", type=float, default=20.0, help="seconds for the worker to load")
    parser.add_argument("--measures", default="get,create,worker", help="which of get, create, worker to run")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench/api.py needs wrk (an HTTP load generator): apt-get install wrk, or `make bench`.")
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    if "postgresql" in backends and not args.postgres_url:
        if args.backend == "postgresql":
            sys.exit("--postgres-url (or ACESERVE_BENCH_POSTGRES_URL) is needed for PostgreSQL.")
        backends = ["sqlite"]
        print("PostgreSQL skipped: no --postgres-url (or ACESERVE_BENCH_POSTGRES_URL).")
    load = os.getloadavg()
    print(
        f"wrk -t1 -c{args.connections}, {args.rounds} x {args.seconds:g} s per app, alternating; "
        f"aceserve api --workers {args.api_workers}; {os.cpu_count()} CPUs, load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    print()
    print("| backend | request | reference req/s | aceserve req/s | ratio | reference p50 / p99 | aceserve p50 / p99 |")
    print("|---|---|---|---|---|---|---|")
    for backend in backends:
        with tempfile.TemporaryDirectory(prefix="aceserve-bench-") as tmp:
            for name, ref, ace in run_backend(backend, args, Path(tmp)):
                errors = f" ({ref.errors} / {ace.errors} errors)" if ref.errors or ace.errors else ""
                print(
                    f"| {backend} | {name}{errors} | {ref.rate:,.0f} | {ace.rate:,.0f} | {ace.rate / ref.rate:.2f}x "
                    f"| {ref.p50:.1f} / {ref.p99:.1f} ms | {ace.p50:.1f} / {ace.p99:.1f} ms |",
                    flush=True,
                )


if __name__ == "__main__":
    main()

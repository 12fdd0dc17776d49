"""Real processes for the fault suite: ``aceserve worker`` and ``aceserve serve`` in subprocesses that a
test can SIGKILL, and an audit of what the database says afterwards."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from aceserve.store.db import Database
from aceserve.store.models import LedgerEntry, StoredFile, Task

FAST_WORKER_ENV = {
    "ACESERVE_LEASE_SECONDS": "3",
    "ACESERVE_HEARTBEAT_SECONDS": "0.5",
    "ACESERVE_POLL_SECONDS": "0.3",
    "ACESERVE_WORKER_GONE_SECONDS": "5",
}


def start_worker(
    data_dir: Path, database_url: str, model: Path, public_url: str, **env: str
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "aceserve",
        "worker",
        "--data-dir",
        str(data_dir),
        "--database-url",
        database_url,
        "--model",
        str(model),
        "--device",
        "cpu",
        "--public-url",
        public_url,
    ]
    return subprocess.Popen(
        command,
        env={**os.environ, **FAST_WORKER_ENV, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait(30)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            kill(process)


class Zygote:
    """``tests/faults/zygote.py`` in a subprocess: forks real worker processes with the model loaded."""

    def __init__(self, model: Path, **env: str) -> None:
        root = Path(__file__).resolve().parents[2]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.zygote", str(model)],
            cwd=root,
            env={**os.environ, **FAST_WORKER_ENV, **env},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        assert self.process.stdout is not None and self.process.stdin is not None
        line = self.process.stdout.readline().strip()
        assert line == "ready", f"the zygote did not start: {line!r}"

    def fork(self, database_url: str, data_dir: Path, public_url: str) -> int:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(f"fork {database_url} {data_dir} {public_url}\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())

    @staticmethod
    def kill(pid: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not _alive(pid), 30)

    @staticmethod
    def stop(pid: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        try:
            wait_until(lambda: not _alive(pid), 60)
        except AssertionError:
            Zygote.kill(pid)

    def close(self) -> None:
        assert self.process.stdin is not None
        with contextlib.suppress(OSError):
            self.process.stdin.write("quit\n")
            self.process.stdin.close()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (killed, not yet reaped) counts as gone
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@dataclass(frozen=True)
class Audit:
    """What the database says about a set of tasks."""

    statuses: Counter[str]
    outputs: Counter[str]  # output file records per task
    consumes: Counter[str]  # consume ledger rows per task
    attempts: dict[str, int]
    frozen_left: int  # units still frozen on the tasks' accounts

    @property
    def duplicated(self) -> int:
        return sum(count - 1 for count in self.outputs.values() if count > 1) + sum(
            count - 1 for count in self.consumes.values() if count > 1
        )


def audit(database_url: str, task_ids: list[str]) -> Audit:
    db = Database(database_url)
    try:
        with db.read() as session:
            rows = session.execute(
                select(Task.id, Task.status, Task.attempts, Task.account_id).where(Task.id.in_(task_ids))
            ).all()
            outputs = Counter(
                session.scalars(
                    select(StoredFile.task_id).where(StoredFile.task_id.in_(task_ids), StoredFile.kind == "output")
                )
            )
            consumes = Counter(
                session.scalars(
                    select(LedgerEntry.task_id).where(LedgerEntry.task_id.in_(task_ids), LedgerEntry.kind == "consume")
                )
            )
            accounts = {row.account_id for row in rows}
            frozen = session.scalar(
                select(func.coalesce(func.sum(LedgerEntry.frozen_delta), 0)).where(LedgerEntry.account_id.in_(accounts))
            )
    finally:
        db.dispose()
    return Audit(
        statuses=Counter(str(row.status) for row in rows),
        outputs=outputs,
        consumes=consumes,
        attempts={row.id: row.attempts for row in rows},
        frozen_left=int(frozen or 0),
    )


def wait_until(condition: object, timeout: float, interval: float = 0.05) -> float:
    """Seconds until ``condition()`` held; AssertionError after ``timeout``."""
    started = time.monotonic()
    while not condition():  # type: ignore[operator]
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not reached within {timeout} s")
        time.sleep(interval)
    return time.monotonic() - started

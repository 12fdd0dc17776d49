"""The pipelined worker over HTTP: the next batch starts while the last one is encoded, and every
guarantee holds in the encode stage (a kill re-runs only unfinished tasks, a cancel wins, an encoder
crash fails its task alone)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from aceserve.cli.running import engine_factory
from aceserve.domain.states import OutputFormat
from aceserve.media import encode_audio
from aceserve.media.formats import Audio
from aceserve.media.isolated import IsolatedEncoder
from aceserve.settings import Settings
from aceserve.storage import open_storage
from aceserve.store.db import Database
from aceserve.store.migrate import open_database
from aceserve.store.models import StoredFile, Task
from aceserve.store.wakeup import Wakeup
from aceserve.worker.loop import Worker
from tests.api.server import make_settings, running_server
from tests.e2e.conftest import serve_with_worker, wait_for
from tests.e2e.test_task_types import create

pytestmark = pytest.mark.timeout(900)  # eight 60 s songs, twice encoded, on a shared 2-core machine

SONG = {"style_prompt": "x", "duration": 60, "infer_steps": 2, "output_format": "mp3"}


def when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def queue_songs(data_dir: Path, database_url: str, count: int, **fields: Any) -> tuple[str, list[str]]:
    """``count`` tasks created while no worker runs, so the first worker finds them all at once."""
    with running_server(make_settings(data_dir, database_url, workers=0)) as server:
        return server.key, [create(server, "txt2audio", **{**SONG, **fields}) for _ in range(count)]


def batches(tasks: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Tasks grouped by the claim that started them (one claim stamps one started_at)."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for task in tasks:
        grouped.setdefault(task["meta"]["started_at"], []).append(task)
    return [grouped[stamp] for stamp in sorted(grouped)]


def run_eight_songs(tmp_path: Path, database_url: str, tiny_model: Path, *, pipelining: bool) -> list[list[Any]]:
    data_dir = tmp_path / ("on" if pipelining else "off")
    key, ids = queue_songs(data_dir, database_url, 8)
    with (
        serve_with_worker(
            data_dir, database_url, tiny_model, max_batch_size=4, pipelining=pipelining, encode_workers=1
        ) as server,
        server.as_key(key) as client,
    ):
        tasks = [wait_for(client, task_id, timeout=600) for task_id in ids]
    assert all(task["status"] == "completed" for task in tasks), [task["error"] for task in tasks]
    assert all(task["meta"]["duration"] == 60 and "phase" not in task["meta"] for task in tasks)
    grouped = batches(tasks)
    assert [len(batch) for batch in grouped] == [4, 4]
    return grouped


def test_pipelined_the_second_batch_starts_before_the_first_has_ended(
    tmp_path: Path, database_url: str, tiny_model: Path
) -> None:
    first, second = run_eight_songs(tmp_path, database_url, tiny_model, pipelining=True)
    assert when(second[0]["meta"]["started_at"]) < max(when(task["meta"]["ended_at"]) for task in first)


def test_not_pipelined_the_second_batch_starts_after_the_first_has_ended(
    tmp_path: Path, database_url: str, tiny_model: Path
) -> None:
    first, second = run_eight_songs(tmp_path, database_url, tiny_model, pipelining=False)
    assert when(second[0]["meta"]["started_at"]) > max(when(task["meta"]["ended_at"]) for task in first)


def test_a_cancel_during_encoding_wins(tmp_path: Path, database_url: str, tiny_model: Path) -> None:
    data_dir = tmp_path / "d"
    key, ids = queue_songs(data_dir, database_url, 4, duration=120)
    with (
        serve_with_worker(data_dir, database_url, tiny_model, max_batch_size=4, encode_workers=1) as server,
        server.as_key(key) as client,
    ):
        last = ids[-1]  # encoded last of its batch: waits in the encode stage while the others encode
        seen = wait_until(client, last, lambda task: task["meta"].get("phase") == "encoding")
        assert seen["status"] == "processing" and seen["meta"]["progress"] == 1.0
        response = client.delete(f"/api/v1/task/{last}")
        assert response.status_code == 200, response.text
        tasks = {task_id: wait_for(client, task_id, timeout=300) for task_id in ids}
    cancelled = tasks.pop(last)
    assert cancelled["status"] == "failed" and "cancelled" in cancelled["error"]["message"]
    assert cancelled["output"] is None and cancelled["meta"]["usage"]["consume"] == 0
    assert all(task["status"] == "completed" for task in tasks.values())
    assert output_files(database_url, last) == []


def test_sigkill_during_encoding_reruns_only_the_unfinished_tasks_once(
    tmp_path: Path, database_url: str, tiny_model: Path
) -> None:
    data_dir = tmp_path / "d"
    settings = make_settings(data_dir, database_url, workers=0)
    with running_server(settings) as server:
        ids = [create(server, "txt2audio", **SONG) for _ in range(4)]
        doomed = worker_process(data_dir, database_url, tiny_model, server.url)
        try:
            wait_until(
                server.client,
                ids,
                lambda tasks: (
                    any(t["status"] == "completed" for t in tasks)
                    and any(t["meta"].get("phase") == "encoding" for t in tasks)
                ),
            )
        finally:
            doomed.send_signal(signal.SIGKILL)
            doomed.wait()
        at_kill = {task_id: server.client.get(f"/api/v1/task/{task_id}").json()["data"] for task_id in ids}
        finished = {task_id for task_id, task in at_kill.items() if task["status"] == "completed"}
        assert finished and len(finished) < len(ids), at_kill
        survivor = worker_process(data_dir, database_url, tiny_model, server.url)
        try:
            tasks = {task_id: wait_for(server.client, task_id, timeout=300) for task_id in ids}
        finally:
            survivor.terminate()
            survivor.wait(60)
    assert all(task["status"] == "completed" for task in tasks.values()), tasks
    db = Database(database_url)
    with db.read() as session:
        attempts = {task_id: session.get(Task, task_id).attempts for task_id in ids}  # type: ignore[union-attr]
    db.dispose()
    assert attempts == {task_id: 1 if task_id in finished else 2 for task_id in ids}
    for task_id in ids:
        assert len(output_files(database_url, task_id)) == 1


def crash_on_flac(audio: Audio, sample_rate: int, fmt: OutputFormat) -> bytes:
    """Runs in the encoder's helper process: a native crash on every flac output, else encodes."""
    if fmt == OutputFormat.FLAC:
        os.kill(os.getpid(), signal.SIGSEGV)
    return encode_audio(audio, sample_rate=sample_rate, fmt=fmt)


def test_an_encoder_crash_fails_only_its_task(tmp_path: Path, database_url: str, tiny_model: Path) -> None:
    data_dir = tmp_path / "d"
    key, ids = queue_songs(data_dir, database_url, 3, duration=10)
    _, (doomed,) = queue_songs(data_dir, database_url, 1, duration=10, output_format="flac")
    settings = make_settings(
        data_dir, database_url, model=str(tiny_model), device="cpu", max_attempts=2, encode_workers=1, poll_seconds=0.2
    )
    with (
        running_server(make_settings(data_dir, database_url, workers=0)) as server,
        server.as_key(key) as client,
        worker_thread(settings, tiny_model),
    ):
        tasks = {task_id: wait_for(client, task_id, timeout=300) for task_id in [*ids, doomed]}
    crashed = tasks.pop(doomed)
    assert crashed["status"] == "failed" and crashed["error"]["code"] == 500
    assert crashed["error"]["message"] == "Encoding the output failed: the audio encoder crashed on this output"
    assert all(task["status"] == "completed" for task in tasks.values()), tasks
    assert len(batches(list(tasks.values()))) == 1  # its batch-mates ran with it, and completed
    db = Database(database_url)
    with db.read() as session:
        assert session.get(Task, doomed).attempts == 2  # type: ignore[union-attr]
        assert {session.get(Task, task_id).attempts for task_id in ids} == {1}  # type: ignore[union-attr]
    db.dispose()


# --- helpers ---------------------------------------------------------------------------------------


def wait_until(client: Any, ids: str | list[str], check: Any, timeout: float = 300) -> Any:
    """Poll the task (or tasks) until ``check`` holds for what was read; returns that."""
    deadline = time.monotonic() + timeout
    while True:
        if isinstance(ids, str):
            seen: Any = client.get(f"/api/v1/task/{ids}").json()["data"]
        else:
            seen = [client.get(f"/api/v1/task/{task_id}").json()["data"] for task_id in ids]
        if check(seen):
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout} s: {seen}")
        time.sleep(0.05)


def output_files(database_url: str, task_id: str) -> list[StoredFile]:
    db = Database(database_url)
    with db.read() as session:
        rows = list(
            session.scalars(select(StoredFile).where(StoredFile.task_id == task_id, StoredFile.kind == "output"))
        )
    db.dispose()
    return rows


def worker_process(data_dir: Path, database_url: str, model: Path, public_url: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ACESERVE_LEASE_SECONDS": "3",
        "ACESERVE_HEARTBEAT_SECONDS": "0.5",
        "ACESERVE_POLL_SECONDS": "0.3",
        "ACESERVE_MAX_BATCH_SIZE": "4",
        "ACESERVE_ENCODE_WORKERS": "1",
    }
    command = [
        *(sys.executable, "-m", "aceserve", "worker", "--data-dir", str(data_dir)),
        *("--database-url", database_url, "--model", str(model), "--device", "cpu", "--public-url", public_url),
    ]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@contextmanager
def worker_thread(settings: Settings, model: Path) -> Iterator[Worker]:
    """A worker in this process whose encoders run ``crash_on_flac`` (the ``encoder_factory`` seam)."""
    db = open_database(settings.database_url)
    storage = open_storage(settings.storage_url, files_dir=settings.files_dir, s3_endpoint_url="")
    worker = Worker(
        settings,
        db,
        storage,
        Wakeup(),
        engine_factory(settings, str(model), "cpu"),
        device="cpu",
        encoder_factory=lambda: IsolatedEncoder(_target=crash_on_flac),
    )
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        stop.set()
        worker.wakeup.notify()
        thread.join(60)
        db.dispose()

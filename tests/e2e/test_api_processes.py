"""``aceserve api`` run as several processes on one database (``--workers 2``, or separate API processes):
the hot paths' guarantees hold across them. A revoked key is refused at once by every process (polls
read the key with the task; creates check it again in their transaction), parallel creates never
overdraw, and one ``Idempotency-Key`` makes one task."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from aceserve.store import accounts
from aceserve.store.db import Database
from aceserve.store.migrate import open_database
from aceserve.store.models import Task
from tests.api.server import free_port
from tests.store.test_billing import assert_ledger_matches, balances

BODY = {"model": "Qubico/ace-step", "task_type": "txt2audio", "input": {"style_prompt": "x", "duration": 10}}
TASK_UNITS = 10 * 500  # a 10-second task at the default price, in usage units


@contextmanager
def api_process(data_dir: Path, database_url: str, *flags: str) -> Iterator[tuple[str, list[str]]]:
    """``aceserve api`` in a process of its own; yields its URL and, once it has stopped, its output lines."""
    port = free_port()
    command = [sys.executable, "-m", "aceserve", "api", "--port", str(port), "--data-dir", str(data_dir)]
    env = {**os.environ, "ACESERVE_LOG_LEVEL": "info"}
    process = subprocess.Popen(
        [*command, "--database-url", database_url, *flags],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    output: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise AssertionError(f"aceserve api exited with {process.returncode}: {process.communicate()[0]}")
            assert time.monotonic() < deadline, "aceserve api did not start"
            try:
                if httpx.get(f"{url}/health/live", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield url, output
    finally:
        process.send_signal(signal.SIGINT)
        try:
            out, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            out, _ = process.communicate()
        output.extend(out.splitlines())


def new_key(database_url: str, name: str, *, credits_usd: float | None = None) -> tuple[str, str]:
    db = open_database(database_url)
    try:
        with db.write() as session:
            account = accounts.create_account(session, name, credits_usd=credits_usd, max_concurrent=100)
            return accounts.create_key(session, account).secret, account.id
    finally:
        db.dispose()


def test_api_workers_serves_from_several_processes(tmp_path: Path, database_url: str) -> None:
    key, _ = new_key(database_url, "two")
    with ExitStack() as stack:
        url, output = stack.enter_context(api_process(tmp_path / "d", database_url, "--workers", "2"))
        client = stack.enter_context(httpx.Client(base_url=url, headers={"x-api-key": key}, timeout=30))
        created = client.post("/api/v1/task", json=BODY)
        assert created.status_code == 200, created.text
        task_id = created.json()["data"]["task_id"]
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: client.get(f"/api/v1/task/{task_id}"), range(64)))
            more = list(  # each on a connection of its own, so both processes take some
                pool.map(lambda _: httpx.post(f"{url}/api/v1/task", json=BODY, headers=client.headers), range(16))
            )
            scrapes = list(pool.map(lambda _: httpx.get(f"{url}/metrics", timeout=30).text, range(16)))
    assert {answer.status_code for answer in more} == {200}
    # whichever process answers the scrape counts the creates of both
    created_total = {
        re.search(r'^aceserve_tasks_created_total\{task_type="txt2audio"\} (\S+)$', text, re.M) for text in scrapes
    }
    assert {float(found.group(1)) if found else None for found in created_total} == {17.0}, scrapes[0]
    assert {answer.status_code for answer in answers} == {200}
    assert {answer.json()["data"]["task_id"] for answer in answers} == {task_id}
    started = {int(pid) for pid in re.findall(r"Started server process \[(\d+)\]", "\n".join(output))}
    assert len(started) == 2, output
    assert any("2 API processes" in line for line in output), output


def test_a_revoked_key_is_refused_at_once_by_every_api_process(tmp_path: Path, database_url: str) -> None:
    key, _ = new_key(database_url, "leaky", credits_usd=1.0)
    with ExitStack() as stack:
        urls = [stack.enter_context(api_process(tmp_path / "d", database_url))[0] for _ in range(2)]
        clients = [stack.enter_context(httpx.Client(base_url=url, headers={"x-api-key": key})) for url in urls]
        task_ids = []
        for client in clients:  # each process has now read the key, and cached it for its creates
            created = client.post("/api/v1/task", json=BODY)
            assert created.status_code == 200, created.text
            task_ids.append(created.json()["data"]["task_id"])
            assert client.get(f"/api/v1/task/{task_ids[-1]}").status_code == 200
        db = Database(database_url)
        with db.write() as session:
            accounts.revoke_key(session, key[:12])
        db.dispose()
        for client, task_id in zip(clients, task_ids, strict=True):
            for answer in (
                client.get(f"/api/v1/task/{task_id}"),
                client.post("/api/v1/task", json=BODY),
                client.get("/account/info"),
            ):
                assert answer.status_code == 401, answer.text
                assert "revoked" in answer.json()["message"]
    db = Database(database_url)
    with db.read() as session:
        assert session.query(Task).count() == 2  # the refused creates left nothing
    db.dispose()


def test_parallel_creates_across_processes_never_overdraw_and_repeat_one_task_per_key(
    tmp_path: Path, database_url: str
) -> None:
    key, account_id = new_key(database_url, "six-tasks", credits_usd=6 * TASK_UNITS / 1e6)
    with ExitStack() as stack:
        urls = [stack.enter_context(api_process(tmp_path / "d", database_url))[0] for _ in range(2)]
        clients = [stack.enter_context(httpx.Client(base_url=url, headers={"x-api-key": key})) for url in urls]
        with ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(lambda n: clients[n % 2].post("/api/v1/task", json=BODY).status_code, range(24)))
        assert sorted(statuses) == [200] * 6 + [402] * 18
        # One Idempotency-Key sent to both processes at once: one task, the same answer everywhere.
        repeat_key, _ = new_key(database_url, "repeats")
        headers = {"x-api-key": repeat_key, "Idempotency-Key": "the-one"}
        with ThreadPoolExecutor(16) as pool:
            answers = list(
                pool.map(lambda n: clients[n % 2].post("/api/v1/task", json=BODY, headers=headers), range(16))
            )
    assert {answer.status_code for answer in answers} == {200}
    assert len({answer.json()["data"]["task_id"] for answer in answers}) == 1
    db = Database(database_url)
    try:
        assert balances(db, account_id)[:2] == (0, 6 * TASK_UNITS)
        assert_ledger_matches(db, account_id)
        with db.read() as session:
            assert session.query(Task).filter(Task.idempotency_key == "the-one").count() == 1
    finally:
        db.dispose()

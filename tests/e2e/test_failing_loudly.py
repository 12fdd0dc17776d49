"""Failing loudly: a server that can run nothing stops with the reason; a port in use fails before any
model is loaded; a worker that cannot load its model exits non-zero."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.api.server import free_port


def aceserve(*args: str, timeout: float = 120) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {**os.environ, "ACESERVE_LOG_LEVEL": "warning", "HF_HUB_OFFLINE": "1"}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "aceserve", *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    return result, time.monotonic() - started


def test_serve_whose_model_cannot_load_exits_non_zero_and_says_why(tmp_path: Path, database_url: str) -> None:
    missing = tmp_path / "no-such-model"
    result, took = aceserve(
        "serve",
        "--model",
        str(missing),
        "--device",
        "cpu",
        "--port",
        str(free_port()),
        "--data-dir",
        str(tmp_path / "data"),
        "--database-url",
        database_url,
    )
    assert result.returncode == 1, result
    assert "No worker could load the model" in result.stderr and str(missing) in result.stderr
    assert "is not a directory here" in result.stderr  # the loader's reason, with the way out
    assert "Traceback" not in result.stderr
    assert took < 60, took


def test_a_port_in_use_fails_before_any_model_load(tmp_path: Path, database_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result, took = aceserve(
            "serve",
            "--model",
            "tiny",
            "--device",
            "cpu",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "data"),
            "--database-url",
            database_url,
        )
    assert result.returncode == 1, result
    assert f"127.0.0.1:{port}: the port is in use" in result.stderr and "--port" in result.stderr
    assert "listening" not in result.stdout
    assert not (tmp_path / "data" / "tiny-model").exists()  # the model was never built nor loaded
    assert "NOISE" not in result.stderr and "Traceback" not in result.stderr
    assert took < 30, took


def test_a_worker_that_cannot_load_its_model_exits_non_zero(tmp_path: Path, database_url: str) -> None:
    result, _ = aceserve(
        "worker",
        "--model",
        str(tmp_path / "nothing-here"),
        "--device",
        "cpu",
        "--data-dir",
        str(tmp_path / "data"),
        "--database-url",
        database_url,
    )
    assert result.returncode == 1, result
    assert "The worker could not load the model" in result.stderr and "is not a directory here" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_database_fails_before_any_model_load(tmp_path: Path) -> None:
    unreachable = f"postgresql://aceserve@127.0.0.1:{free_port()}/aceserve"
    result, took = aceserve(
        "serve", "--model", "tiny", "--device", "cpu", "--port", "0",
        "--data-dir", str(tmp_path / "data"), "--database-url", unreachable,
    )  # fmt: skip
    assert result.returncode == 1, result
    assert f"Cannot open the database {unreachable}" in result.stderr and "--database-url" in result.stderr
    assert not (tmp_path / "data" / "tiny-model").exists() and "Traceback" not in result.stderr
    assert took < 30, took

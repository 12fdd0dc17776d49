"""``aceserve bulk`` as a user runs it, against a real server with a worker on the tiny checkpoint:
a 12-line file with 2 bad lines ends with 10 downloads and a manifest, and a run stopped halfway and
started again makes no task twice and downloads nothing twice."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.api.server import RunningServer

pytestmark = pytest.mark.timeout(300)


def bulk_command(server: RunningServer, file: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "aceserve", "bulk", str(file), "-o", str(out), "--url", server.url, "-j", "2"]


def manifest(out: Path) -> list[dict[str, Any]]:
    path = out / "manifest.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def twelve_lines(path: Path) -> None:
    lines = [json.dumps({"style_prompt": f"Style {n}", "duration": 2, "seed": n}) for n in range(1, 13)]
    lines[3] = '{"style_prompt": "broken", '  # line 4: not JSON
    lines[8] = json.dumps({"style_prompt": "too long", "duration": 601})  # line 9: the server says 400
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "killed"])
def test_a_bulk_run_stopped_halfway_resumes_to_ten_downloads_without_duplicates(
    server: RunningServer, tmp_path: Path, stop: signal.Signals
) -> None:
    file, out = tmp_path / "songs.jsonl", tmp_path / "out"
    twelve_lines(file)
    env = {"ACESERVE_API_KEY": server.key, "PATH": "/usr/bin:/bin"}
    first = subprocess.Popen(
        bulk_command(server, file, out), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while sum(entry["status"] == "completed" for entry in manifest(out)) < 4:
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, manifest(out)
        time.sleep(0.05)
    first.send_signal(stop)
    _, first_err = first.communicate(timeout=60)
    if stop is signal.SIGINT:
        assert first.returncode == 130 and "run the same command again to resume" in first_err
    halfway = {entry["line"]: entry for entry in manifest(out)}
    downloaded = {path.name: path.stat().st_mtime_ns for path in out.glob("*.mp3")}
    assert 4 <= len(downloaded) < 10

    second = subprocess.run(bulk_command(server, file, out), env=env, capture_output=True, text=True, timeout=240)
    assert second.returncode == 1, second.stderr  # two lines were bad
    assert "10 of 12 lines downloaded" in second.stdout and "2 not" in second.stdout

    entries = manifest(out)
    assert [entry["line"] for entry in entries] == list(range(1, 13))
    bad = {entry["line"]: entry for entry in entries if entry["status"] != "completed"}
    assert set(bad) == {4, 9} and all(entry["task_id"] is None for entry in bad.values())
    assert bad[4]["status"] == "rejected" and bad[4]["error"].startswith("not JSON: ")
    assert bad[9]["status"] == "rejected" and bad[9]["error"].startswith("400: `input.duration` must be")
    assert "line 9: error: 400: `input.duration`" in second.stderr

    completed = [entry for entry in entries if entry["status"] == "completed"]
    assert {entry["output"] for entry in completed} == {path.name for path in out.glob("*.mp3")}
    assert {entry["output"] for entry in completed} >= {"001-style-1-1.mp3", "012-style-12-12.mp3"}
    for name, mtime in downloaded.items():
        assert (out / name).stat().st_mtime_ns == mtime, f"{name} was downloaded again"
    for line, entry in halfway.items():
        if entry["task_id"]:
            assert entries[line - 1]["task_id"] == entry["task_id"], "a line got a second task"

    history = server.client.get("/api/open/tasks/histories", params={"page_size": 100}).json()["data"]
    assert history["total"] == 10, "tasks were made twice"
    assert {row["task_id"] for row in history["data"]} == {entry["task_id"] for entry in completed}
    assert not list(out.glob(".*.part"))

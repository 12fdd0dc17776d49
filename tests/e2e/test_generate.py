"""`aceserve generate` as a person runs it: a real process against a real server with a worker on the
tiny checkpoint; it writes decodable audio of the right length, chains tasks by id, uploads local files,
and fails with the server's words (exit status 1, no traceback) when something is wrong."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aceserve.media.decode import decode_audio
from tests.api.server import RunningServer, free_port
from tests.audio import tone_wav
from tests.e2e.conftest import serve_with_worker


@pytest.fixture
def server(tmp_path: Path, tiny_model: Path) -> Iterator[RunningServer]:
    with serve_with_worker(tmp_path / "data", f"sqlite:///{tmp_path / 'db.sqlite3'}", tiny_model) as running:
        yield running


def generate(server: RunningServer, *args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ACESERVE_URL": server.url, "ACESERVE_API_KEY": key or server.key}
    return subprocess.run(
        [sys.executable, "-m", "aceserve", "generate", *args], env=env, capture_output=True, text=True, timeout=300
    )


def seconds_of(path: Path) -> float:
    return decode_audio(path.read_bytes()).shape[-1] / 48_000


def test_generate_makes_a_song_and_chains_it(server: RunningServer, tmp_path: Path) -> None:
    verse = tmp_path / "verse.txt"
    verse.write_text("[verse]\nneon lights on the water\n", encoding="utf-8")
    song = tmp_path / "song.mp3"
    made = generate(
        server, "txt2audio", "--style", "synthwave", "--lyrics-file", str(verse), "--duration", "12", "-o", str(song)
    )
    assert made.returncode == 0, made.stderr
    assert seconds_of(song) == pytest.approx(12.0, abs=0.05)
    assert "completed" in made.stderr and str(song) in made.stdout
    task_id = made.stdout.split("task ")[-1].rstrip(")\n")

    longer = tmp_path / "longer.wav"
    chained = generate(
        server, "extend", "--audio", task_id, "--style", "lofi", "--left", "2", "--right", "3",
        "--format", "wav", "-o", str(longer),
    )  # fmt: skip
    assert chained.returncode == 0, chained.stderr
    assert seconds_of(longer) == pytest.approx(17.0, abs=0.05)

    take = tmp_path / "take.wav"
    take.write_bytes(tone_wav(10.0))
    as_json = generate(server, "audio2audio", "--audio", str(take), "--style", "jazz", "--json", "--seed", "7")
    assert as_json.returncode == 0, as_json.stderr
    task = json.loads(as_json.stdout)
    assert task["status"] == "completed" and task["meta"]["seed"] == 7
    assert task["input"]["style_audio"].startswith(server.url + "/files/")  # the local file was uploaded
    assert as_json.stderr == ""  # --json: no progress lines


def test_generate_fails_with_the_servers_words(server: RunningServer, tmp_path: Path) -> None:
    wrong_key = generate(server, "txt2audio", "--style", "x", key="ak_not-a-key")
    assert (
        wrong_key.returncode == 1 and "Invalid API key" in wrong_key.stderr and "ACESERVE_API_KEY" in wrong_key.stderr
    )
    bad_input = generate(server, "txt2audio", "--style", "x", "--duration", "9999")
    assert bad_input.returncode == 1 and "`input.duration`" in bad_input.stderr
    failed = generate(server, "edit", "--audio", "http://10.1.2.3/a.mp3", "--style", "a", "--edit-style", "b")
    assert failed.returncode == 1 and "failed (error" in failed.stderr and "private" in failed.stderr
    missing = generate(server, "extend", "--audio", str(tmp_path / "nope.mp3"), "--style", "x")
    assert missing.returncode == 2 and "no such file, and not a URL or a task id" in missing.stderr
    env = {**os.environ, "ACESERVE_API_KEY": "ak_x", "ACESERVE_URL": f"http://127.0.0.1:{free_port()}"}
    unreachable = subprocess.run(
        [sys.executable, "-m", "aceserve", "generate", "txt2audio", "--style", "x"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert unreachable.returncode == 1 and "Cannot reach the server" in unreachable.stderr
    for result in (wrong_key, bad_input, failed, missing, unreachable):
        assert "Traceback" not in result.stderr

"""``bench/gpu_check.sh --dry-run``: the GPU check's every row, on the CPU with the tiny model.

This runs the real script end to end (tiny checkpoint, tiny sizes, compile on dynamo's ``eager``
backend) and reads its table: it shows that each check runs and passes its own verdicts, not how fast
a GPU is. Without ``--dry-run`` on a machine with no CUDA device the script refuses, saying why.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "gpu_check.sh"
CHECKS = ("sizes", "bf16 vs fp32", "VAE tiling", "compile", "CPU offload")


def _run(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHON": sys.executable}
    return subprocess.run(
        ["bash", str(SCRIPT), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_dry_run_prints_every_row_of_the_table(tmp_path: Path) -> None:
    table = tmp_path / "table.md"
    done = _run("--dry-run", "--markdown", str(table), timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = table.read_text().splitlines()
    assert lines[0] == "| check | model | audio | batch | wall s | RTF | peak memory | result |"
    rows = [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines[2:]]
    assert {row[0] for row in rows} == set(CHECKS)
    assert not [row for row in rows if "FAIL" in row[-1] or "skipped" in row[-1]]
    sizes = [row for row in rows if row[0] == "sizes"]
    assert {(row[2], row[3]) for row in sizes} == {("10 s", "1"), ("10 s", "2"), ("12 s", "1"), ("12 s", "2")}
    assert all(float(row[4]) > 0 and float(row[5]) > 0 and row[6].endswith("GiB RSS") for row in sizes)
    verdicts = [row[-1] for row in rows if row[-1].startswith("pass")]
    assert len(verdicts) == 2  # bf16 vs fp32, and no graph compiled after the warm-up
    assert any("0 graphs compiled after the warm-up" in v for v in verdicts)
    assert "DRY RUN" in done.stdout


def test_without_a_gpu_it_refuses_unless_dry_run() -> None:
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is here: the full check would start, which is not a unit test's job")
    done = _run(timeout=120)
    assert done.returncode == 2
    assert "No CUDA device here" in done.stderr and "--dry-run" in done.stderr

"""Workers SIGKILLed again and again, before, during and after generation, on each database: every
task still completes exactly once (one output record), is billed exactly once (one consume row, nothing
left frozen) and none is left stuck. The workers are real worker processes forked with the model
loaded (``tests/faults/zygote.py``). The figures are printed (``pytest -s``).

Soak variant: ``pytest -m soak tests/faults -s`` (12 kills and 6 tasks per backend instead of 3 and 2)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.api.server import make_settings, running_server
from tests.faults.processes import Zygote, audit, wait_until

PHASES = ("before", "during", "after")
INPUT = {"style_prompt": "kill me", "duration": 10, "infer_steps": 24}


def _kill_storm(tmp_path: Path, database_url: str, zygote: Zygote, kills: int, n_tasks: int) -> None:
    data_dir = tmp_path / "d"
    with running_server(make_settings(data_dir, database_url, workers=0)) as server:
        body = {"model": "Qubico/ace-step", "task_type": "txt2audio", "input": INPUT}
        task_ids = [server.client.post("/api/v1/task", json=body).json()["data"]["task_id"] for _ in range(n_tasks)]

        def states() -> list[tuple[str, float]]:
            tasks = [server.client.get(f"/api/v1/task/{task_id}").json()["data"] for task_id in task_ids]
            return [(task["status"], task["meta"].get("progress", 0.0)) for task in tasks]

        phases_done: list[str] = []
        for index in range(kills):
            phase = PHASES[index % len(PHASES)]
            pid = zygote.fork(database_url, data_dir, server.url)

            def reached(phase: str = phase) -> bool:
                now = states()
                if all(status == "completed" for status, _ in now):
                    return True
                running = [progress for status, progress in now if status == "processing"]
                if phase == "before":
                    return bool(running)
                if phase == "during":
                    return any(0.3 <= progress < 0.9 for progress in running)
                return any(progress >= 0.9 for progress in running)

            try:
                wait_until(reached, timeout=120, interval=0.02)
            finally:
                zygote.kill(pid)
            phases_done.append(phase)
        started = time.monotonic()
        pid = zygote.fork(database_url, data_dir, server.url)
        try:
            wait_until(lambda: all(status in ("completed", "failed") for status, _ in states()), 300)
        finally:
            zygote.stop(pid)
        recovery = time.monotonic() - started
    result = audit(database_url, task_ids)
    backend = database_url.split(":", 1)[0]
    lost = n_tasks - result.statuses.get("completed", 0)
    print(
        f"\nworker kills [{backend}]: {kills} SIGKILLs ({', '.join(phases_done)}), {n_tasks} tasks, "
        f"{lost} lost, {result.duplicated} duplicated, attempts {sorted(result.attempts.values())}, "
        f"all done {recovery:.1f} s after the last kill"
    )
    assert result.statuses == {"completed": n_tasks}, result
    assert all(result.outputs[task_id] == 1 for task_id in task_ids), result.outputs
    assert all(result.consumes[task_id] == 1 for task_id in task_ids), result.consumes
    assert result.frozen_left == 0


def test_repeated_worker_kills_lose_and_duplicate_nothing(tmp_path: Path, database_url: str, zygote: Zygote) -> None:
    _kill_storm(tmp_path, database_url, zygote, kills=3, n_tasks=2)


@pytest.mark.soak
@pytest.mark.timeout(3600)
def test_soak_worker_kills_lose_and_duplicate_nothing(tmp_path: Path, database_url: str, zygote: Zygote) -> None:
    _kill_storm(tmp_path, database_url, zygote, kills=12, n_tasks=6)

"""One tenant's bad input never fails another's task: a batch that raises is bisected until the error
is pinned on one task, a stored input the typed model refuses fails that task alone, and only a worker
fault (device lost, out of memory) counts against every task of the batch.

The batches run on the real tiny engine; ``Poisoned`` wraps it (behind the ``Engine`` port) to raise
for one marked prompt, standing in for whatever input a pipeline bug might choke on.
"""

from __future__ import annotations

from typing import Any

from aceserve.engine.engine import AceStepEngine
from aceserve.engine.faults import WorkerFault, is_worker_fault
from aceserve.engine.types import EngineInfo, GenerationRequest, GenerationResult
from aceserve.store import queue
from aceserve.store.db import Database
from aceserve.store.tasks import TaskDraft, create_task
from tests.faults.conftest import RunnerFactory
from tests.store.helpers import make_account, reload

HINT = "txt2audio:10:2:default"


class Poisoned:
    """The real engine, except that a batch holding a prompt with ``marker`` raises ``error``."""

    def __init__(self, real: AceStepEngine, marker: str, error: Exception) -> None:
        self.real, self.marker, self.error = real, marker, error
        self.calls: list[int] = []

    @property
    def info(self) -> EngineInfo:
        return self.real.info

    def batch_key(self, request: GenerationRequest) -> str:
        return self.real.batch_key(request)

    def generate(self, requests: list[GenerationRequest], **kwargs: Any) -> list[GenerationResult]:
        self.calls.append(len(requests))
        if any(self.marker in request.style_prompt for request in requests):
            raise self.error
        return self.real.generate(requests, **kwargs)


def _task(db: Database, account: str, style_prompt: str) -> str:
    draft = TaskDraft(
        task_type="txt2audio",
        input={
            "duration": 10,
            "infer_steps": 2,
            "lyrics": "[inst]",
            "negative_style_prompt": "",
            "style_prompt": style_prompt,
        },
        config={"service_mode": "", "webhook_config": {"endpoint": "", "secret": ""}},
        frozen_units=5000,
        batch_hint=HINT,
    )
    with db.write() as session:
        return create_task(session, account, draft, max_queued=1000).task.id


def _batch(db: Database, prompts: dict[str, str]) -> tuple[dict[str, str], list[queue.Lease]]:
    ids = {name: _task(db, make_account(db, name), prompt) for name, prompt in prompts.items()}
    leases = queue.claim(db, owner="w", lease_seconds=60, max_batch=4)
    assert {lease.task_id for lease in leases} == set(ids.values())
    return ids, leases


def test_a_batch_mate_that_breaks_the_engine_fails_alone(
    database: Database, make_runner: RunnerFactory, tiny_engine: AceStepEngine
) -> None:
    ids, leases = _batch(database, {"a": "rock", "b": "jazz", "c": "POISON", "d": "folk"})
    engine = Poisoned(tiny_engine, "POISON", TypeError("the tokenizer choked"))
    make_runner(engine).run(leases)
    poison = reload(database, ids["c"])
    assert poison.status == "pending" and poison.attempts == 1  # its own attempt, retried alone later
    for name in ("a", "b", "d"):
        task = reload(database, ids[name])
        assert task.status == "completed" and task.attempts == 1, (name, task.error_message)
    assert engine.calls[0] == 4 and 1 in engine.calls  # bisected down to the poison alone


def test_a_task_failing_on_every_attempt_fails_alone_with_the_reason(
    database: Database, make_runner: RunnerFactory, tiny_engine: AceStepEngine
) -> None:
    engine = Poisoned(tiny_engine, "POISON", ValueError("bad shape"))
    account = make_account(database, "p")
    poison = _task(database, account, "POISON")
    for _ in range(3):
        make_runner(engine).run(queue.claim(database, owner="w", lease_seconds=60, max_batch=4))
    task = reload(database, poison)
    assert task.status == "failed" and task.attempts == 3
    assert "ValueError: bad shape" in task.error_message


def test_a_stored_input_the_model_refuses_fails_that_task_alone_with_400(
    database: Database, make_runner: RunnerFactory, tiny_engine: AceStepEngine
) -> None:
    # A row written below the API: a lone surrogate the create step would have refused.
    ids, leases = _batch(database, {"a": "rock", "b": "bad \ud800 prompt", "c": "jazz"})
    make_runner(tiny_engine).run(leases)
    bad = reload(database, ids["b"])
    assert bad.status == "failed" and bad.error_code == 400 and bad.attempts == 1
    assert "input.style_prompt" in bad.error_message
    for name in ("a", "c"):
        assert reload(database, ids[name]).status == "completed"


def test_a_worker_fault_counts_against_every_task_of_the_batch(
    database: Database, make_runner: RunnerFactory, tiny_engine: AceStepEngine
) -> None:
    ids, leases = _batch(database, {"a": "rock", "b": "jazz"})
    engine = Poisoned(tiny_engine, "", RuntimeError("CUDA error: an illegal memory access was encountered"))
    make_runner(engine).run(leases)
    assert engine.calls == [2]  # no bisection: the worker is broken, not an input
    for task_id in ids.values():
        task = reload(database, task_id)
        assert task.status == "pending" and task.attempts == 1


def test_worker_faults_are_told_apart_from_task_errors() -> None:
    class OutOfMemoryError(RuntimeError):
        pass

    assert is_worker_fault(WorkerFault("device lost"))
    assert is_worker_fault(OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert is_worker_fault(MemoryError())
    assert is_worker_fault(RuntimeError("CUDA error: device-side assert triggered"))
    assert not is_worker_fault(TypeError("expected str, got int"))
    assert not is_worker_fault(RuntimeError("shape mismatch: [2, 3] vs [2, 4]"))

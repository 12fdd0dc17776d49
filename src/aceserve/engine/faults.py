"""Which engine errors belong to the worker rather than to a task (torch-free: the worker imports it).

A batch that raises is re-run in halves until the error is pinned on one task (``worker/execute.py``),
so one task's input can never fail its batch-mates. That search is pointless, and harmful, when the
worker itself is broken: a lost device or exhausted memory fails every run alike. Those are
``WorkerFault``s, recognized here by type and message without importing torch, and count against
every task of the batch as infrastructure failures (retried while attempts remain).
"""

from __future__ import annotations

import re
from typing import Final

_FAULT_TYPES: Final = frozenset({"OutOfMemoryError", "AcceleratorError", "MemoryError"})
_FAULT_MESSAGE: Final = re.compile(
    r"out of memory|CUDA error|CUBLAS_STATUS|cuDNN error|device-side assert|illegal memory access|"
    r"no CUDA-capable device|device lost|HIP error|MPS backend out of memory",
    re.IGNORECASE,
)


class WorkerFault(Exception):
    """The worker (its device, its memory), not any task, failed; the batch's tasks are retried."""


def is_worker_fault(exc: BaseException) -> bool:
    """True for errors of the worker's device or memory rather than of what a task asked for."""
    if isinstance(exc, WorkerFault | MemoryError):
        return True
    if any(kind.__name__ in _FAULT_TYPES for kind in type(exc).__mro__):
        return True
    return isinstance(exc, RuntimeError) and bool(_FAULT_MESSAGE.search(str(exc)))

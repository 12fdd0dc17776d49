"""A worker zygote for the kill tests: loads the tiny model once, then forks real workers on command.

Starting ``aceserve worker`` costs this machine half a minute of imports per process; a test that
SIGKILLs a dozen workers would spend most of its time importing torch. The zygote imports and loads
once; each forked child then runs the very ``Worker`` loop that ``aceserve worker`` runs (claim,
heartbeat, generate, store, complete) against the database it is given, and dies by SIGKILL like any
worker process. The parent never runs inference, so nothing fork-unsafe is running when it forks.

Protocol on stdin/stdout, one line each: ``fork <database_url> <data_dir> <public_url>`` answers
``<pid>``; ``quit`` ends it. Run as ``python -m tests.faults.zygote <model_dir>``.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path


def _run_child(engine: object, database_url: str, data_dir: str, public_url: str) -> None:
    from aceserve.settings import Settings
    from aceserve.storage import open_storage
    from aceserve.store.db import Database
    from aceserve.store.wakeup import Wakeup
    from aceserve.worker.loop import Worker

    settings = Settings(data_dir=Path(data_dir), database_url=database_url, public_url=public_url, device="cpu")
    db = Database(database_url)
    storage = open_storage(settings.storage_url, files_dir=settings.files_dir, s3_endpoint_url="")
    wakeup = Wakeup.for_database(database_url)
    worker = Worker(settings, db, storage, wakeup, lambda: engine, device="cpu")  # type: ignore[arg-type,return-value]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    worker.run(stop)
    os._exit(0)


def main() -> None:
    from aceserve.engine.loader import load_engine

    batch = int(os.environ.get("ACESERVE_MAX_BATCH_SIZE", "2"))
    engine = load_engine(sys.argv[1], device="cpu", max_batch_size=batch, warmup=False)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    print("ready", flush=True)
    for line in sys.stdin:
        command, *args = line.split()
        if command == "quit":
            break
        if command == "fork":
            pid = os.fork()
            if pid == 0:
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                try:
                    _run_child(engine, *args)
                finally:
                    os._exit(1)
            print(pid, flush=True)


if __name__ == "__main__":
    main()

"""Composition of the long-running commands: ``serve``, ``api`` and ``worker``."""

from __future__ import annotations

import inspect
import logging
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import click

from aceserve.cli.background import ThreadService, WorkerService, janitor_service, webhook_service
from aceserve.cli.listening import AnnouncingServer, bind, bound_settings, serve_metrics
from aceserve.engine.types import Engine
from aceserve.settings import TINY_MODEL, Settings
from aceserve.store import accounts
from aceserve.store.migrate import open_database

log = logging.getLogger("aceserve")

NOISE_BANNER = """
  ************************************************************************
  *  --model tiny: serving a TINY RANDOM checkpoint. It makes NOISE,      *
  *  not music. It exists to try the API where no weights can be had.    *
  *  For music, run on a GPU machine with the default --model.           *
  ************************************************************************
"""


def ensure_data_dir(settings: Settings) -> None:
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise click.ClickException(
            f"Cannot use {settings.data_dir} as the data directory: {exc.strerror or exc}. "
            "Choose another with --data-dir or ACESERVE_DATA_DIR."
        ) from exc


def resolve_model(settings: Settings) -> str:
    """The hub id or directory to load; ``tiny`` is built once into the data dir."""
    if settings.model != TINY_MODEL:
        return settings.model
    directory = settings.data_dir / "tiny-model"
    if not (directory / "model_index.json").is_file():
        from aceserve.engine.tiny import make_tiny_checkpoint

        click.echo(f"Building the tiny random checkpoint in {directory} ...", err=True)
        make_tiny_checkpoint(directory)
    elif not (directory / "lm" / "config.json").is_file():  # built before the checkpoint carried a planner
        from aceserve.engine.planner.tiny_lm import make_tiny_lm

        make_tiny_lm(directory / "lm")
    click.secho(NOISE_BANNER, fg="yellow", bold=True, err=True)
    return str(directory)


def devices_for(setting: str) -> list[str]:
    """One worker per device: every visible GPU for ``auto``/``cuda``, else the named device."""
    if setting not in ("auto", "cuda"):
        return [setting]
    import torch

    count = torch.cuda.device_count()
    if count:
        return [f"cuda:{index}" for index in range(count)]
    if setting == "cuda":
        raise click.UsageError("--device cuda: no CUDA device is visible to this process.")
    return ["cpu"]


def engine_factory(settings: Settings, model: str, device: str) -> Callable[[], Engine]:
    def load() -> Engine:
        from aceserve.engine.loader import load_engine

        return load_engine(
            model,
            device=device,
            cpu_offload=settings.cpu_offload,
            compile=settings.compile,
            max_batch_size=settings.max_batch_size,
            adapters=settings.adapters,
            lm=settings.lm,
            lm_device=settings.lm_device,
        )

    return load


def announce_key(settings: Settings) -> None:
    db = open_database(settings.database_url)
    try:
        with db.write() as session:
            new_key = accounts.ensure_default_account(session, max_concurrent=settings.default_max_concurrent)
    finally:
        db.dispose()
    if new_key is not None:
        click.secho("First start: created the account 'default' (unlimited credit) and its API key:", bold=True)
        click.echo(f"  {new_key.secret}")
        click.echo("  (shown once; make more with `aceserve keys create`)")


def run_serve(settings: Settings) -> None:
    ensure_data_dir(settings)
    sock = bind(settings.host, settings.port)  # before the model: a port in use fails in a second
    settings = bound_settings(settings, sock)
    announce_key(settings)  # and an unreachable database too
    model = resolve_model(settings)
    workers = [
        WorkerService(engine_factory(settings, model, device), device)
        for device in devices_for(settings.device)
        for _ in range(max(1, settings.workers))
    ]
    _run_http(settings, sock, [*workers, webhook_service(), janitor_service()], workers=workers, model=model)


def run_api(settings: Settings) -> None:
    ensure_data_dir(settings)
    sock = bind(settings.host, settings.port)
    settings = bound_settings(settings, sock)
    announce_key(settings)
    if settings.api_processes > 1:
        _run_api_processes(settings, sock)
        return
    _run_http(settings, sock, [webhook_service(), janitor_service()])


class ApiProcessApp:
    """The ASGI app of one ``aceserve api --workers N`` process: picklable (uvicorn starts the processes
    with ``spawn``), it builds the real app in that process on its first call (the lifespan's start)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            from aceserve.api.app import create_app
            from aceserve.cli.main import setup_logging

            setup_logging(self.settings)
            self._app = create_app(self.settings, background=[webhook_service(), janitor_service()])
        await self._app(scope, receive, send)


def _run_api_processes(settings: Settings, sock: socket.socket) -> None:
    """``settings.api_processes`` uvicorn processes sharing the bound socket, supervised by uvicorn."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from aceserve.api.serving import server_config
    from aceserve.telemetry.metrics import shared_between_processes

    config = server_config(ApiProcessApp(settings), settings, processes=settings.api_processes)
    sock.listen(2048)  # connections wait in the backlog until a process takes them

    def announce() -> None:
        _wait_until_serving(settings)
        click.secho(
            f"aceserve listening on {settings.public_url}  ({settings.api_processes} API processes; "
            f"docs: {settings.public_url}/docs)",
            bold=True,
        )

    threading.Thread(target=announce, name="announce", daemon=True).start()
    if "target" in inspect.signature(Multiprocess).parameters:  # uvicorn before 0.36 wants the server's run
        supervisor = Multiprocess(config, target=uvicorn.Server(config).run, sockets=[sock])  # type: ignore[call-arg]
    else:
        supervisor = Multiprocess(config, sockets=[sock])
    with shared_between_processes():  # any process's /metrics counts what all of them did
        supervisor.run()


def _wait_until_serving(settings: Settings) -> None:
    """Until a process answers on the port (``/health/live``)."""
    import urllib.request

    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(settings.host, settings.host.strip("[]"))
    url = f"http://{f'[{host}]' if ':' in host else host}:{settings.port}/health/live"
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.1)


def _run_http(
    settings: Settings,
    sock: socket.socket,
    background: list[ThreadService],
    *,
    workers: Sequence[WorkerService] = (),
    model: str = "",
) -> None:

    from aceserve.api.app import create_app, end_event_streams
    from aceserve.api.serving import server_config

    app = create_app(settings, background=background)
    config = server_config(app, settings)

    def announce() -> None:
        click.secho(
            f"aceserve listening on {settings.public_url}  (studio: {settings.public_url}/, "
            f"docs: {settings.public_url}/docs)",
            bold=True,
        )

    server = AnnouncingServer(config, on_listening=announce, on_exit=lambda: end_event_streams(app))
    failures = watch_loading(workers, server) if workers else []
    server.run(sockets=[sock])
    if failures:
        raise click.ClickException(
            f"No worker could load the model {model!r}, so nothing can run; stopped. {failures[0]}"
        )


def watch_loading(workers: Sequence[WorkerService], server: AnnouncingServer) -> list[BaseException]:
    """Stop ``server`` when every worker failed to load its model (a server that can run nothing must
    not take tasks). The returned list holds the failures once that happened."""
    failures: list[BaseException] = []

    def watch() -> None:
        for service in workers:
            service.created.wait()
            assert service.worker is not None
            service.worker.ready.wait()
        errors = [service.worker.failed for service in workers if service.worker is not None]
        if errors and all(error is not None for error in errors):
            failures.extend(error for error in errors if error is not None)
            server.should_exit = True

    threading.Thread(target=watch, name="load-watch", daemon=True).start()
    return failures


def run_worker(settings: Settings) -> None:
    from aceserve.storage import open_storage
    from aceserve.store.wakeup import Wakeup
    from aceserve.worker.loop import Worker

    if settings.metrics_port is not None:  # before the model: a port in use fails in a second
        serve_metrics(settings.metrics_host, settings.metrics_port)
    model = resolve_model(settings)
    device = devices_for(settings.device)[0] if settings.device in ("auto", "cuda") else settings.device
    db = open_database(settings.database_url)
    wakeup = Wakeup.for_database(settings.database_url)
    storage = open_storage(settings.storage_url, files_dir=settings.files_dir, s3_endpoint_url=settings.s3_endpoint_url)
    worker = Worker(settings, db, storage, wakeup, engine_factory(settings, model, device), device=device)
    stop = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        log.info("signal %d: stopping; a running batch goes back to the queue", signum)
        stop.set()
        wakeup.notify()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    worker.run(stop)
    wakeup.close()
    db.dispose()
    if worker.failed is not None:
        raise click.ClickException(f"The worker could not load the model {model!r}; stopped. {worker.failed}")

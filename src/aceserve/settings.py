"""The one settings object.

Values come from (highest first) command-line flags, ``ACESERVE_*`` environment variables, a TOML
config file named by ``ACESERVE_CONFIG`` (or ``--config``), then the defaults below. Everything is
validated when the process starts; nothing is read from the environment after that.
"""

from __future__ import annotations

import contextvars
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from aceserve.domain.adapters import AdapterSpec, parse_adapter_specs

DEFAULT_MODEL = "ACE-Step/acestep-v15-xl-turbo-diffusers"
TINY_MODEL = "tiny"

_config_file: contextvars.ContextVar[Path | None] = contextvars.ContextVar("aceserve_config_file", default=None)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ACESERVE_", extra="forbid", validate_default=True)

    # --- where things live -------------------------------------------------------------------
    data_dir: Path = Field(default=Path("./data"), description="Directory for the SQLite file and local files.")
    database_url: str = Field(default="", description="SQLAlchemy URL; default: sqlite file in data_dir.")
    storage_url: str = Field(
        default="",
        description="Where files live: empty for data_dir/files, or s3://bucket/prefix for S3-compatible storage. "
        "aceserve owns it: the janitor deletes unrecorded files there.",
    )
    s3_endpoint_url: str = Field(default="", description="Endpoint of an S3-compatible service (MinIO, R2...).")

    # --- HTTP ----------------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    public_url: str = Field(default="", description="Base URL clients use to reach this server.")
    max_body_bytes: int = Field(default=80 * 1024 * 1024, gt=0, description="Largest request body accepted.")
    events_poll_seconds: float = Field(
        default=0.5,
        gt=0,
        description="How often a task's event stream re-reads its task when no change notice arrives (changes made "
        "by other processes on SQLite; on PostgreSQL LISTEN/NOTIFY brings them, and the poll is 10 times slower).",
    )
    events_keepalive_seconds: float = Field(
        default=15.0, gt=0, description="Seconds between keep-alive comments on an idle task event stream."
    )
    events_max_streams_per_key: int = Field(
        default=8, ge=1, description="Open task event streams one API key may hold per API process; 429 beyond."
    )
    max_connections: int = Field(
        default=0,
        ge=0,
        description="Open client connections beyond which new ones are answered 503 and closed; 0: the open-file "
        "limit less 128.",
    )
    header_timeout_seconds: float = Field(
        default=10.0, gt=0, description="A request's head must arrive within this long, or the connection is closed."
    )
    body_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Longest gap without a byte while a request body is read."
    )
    keep_alive_seconds: float = Field(default=5.0, gt=0, description="Idle keep-alive connections close after this.")

    # --- engine / worker -----------------------------------------------------------------------
    model: str = Field(default=DEFAULT_MODEL, description="Hub id, local directory, or 'tiny'.")
    device: str = Field(default="auto", description="cpu, cuda, cuda:N or auto.")
    lm: str = Field(
        default="",
        description="5 Hz LM planner: a directory or hub id, 'none', or empty for the model's own lm/ (else, for a hub "
        "model, ACE-Step/acestep-5Hz-lm-0.6B).",
    )
    lm_device: str = Field(default="", description="Device of the LM planner; empty: the model's device.")
    cpu_offload: bool = False
    compile: bool = False
    max_batch_size: int = Field(default=4, ge=1, le=64)
    lora: list[str] = Field(
        default_factory=list,
        description="LoRA/LoKr adapters as NAME=PATH_OR_HUB_ID, loaded at start; tasks pick one with `input.lora`. "
        "The API and every worker take the same list.",
    )
    workers: int = Field(default=1, ge=0, le=64, description="In-process workers started by `serve`.")
    api_threads: int = Field(
        default=8, ge=1, le=256, description="Threads of one API process for blocking work (database calls)."
    )
    api_processes: int = Field(
        default=1, ge=1, le=64, description="Processes serving the API (`aceserve api --workers N`): one per core."
    )
    lease_seconds: float = Field(default=60.0, gt=1)
    heartbeat_seconds: float = Field(default=5.0, gt=0)
    poll_seconds: float = Field(default=2.0, gt=0, description="Safety-net poll when no wake-up arrives.")
    max_attempts: int = Field(default=3, ge=1, description="Runs of one task before infrastructure failure.")
    worker_gone_seconds: float = Field(
        default=30.0,
        gt=0,
        description="A worker silent this long (and at least 3 heartbeats) is shown as gone and not counted.",
    )
    worker_forget_seconds: float = Field(
        default=3600.0, gt=0, description="A worker silent this long is removed from the workers table."
    )
    ready_requires_worker: bool | None = Field(
        default=None,
        description="/health/ready needs a live ready worker: true, false, or unset for 'when this process "
        "runs workers' (serve).",
    )

    # --- inputs --------------------------------------------------------------------------------
    max_input_audio_bytes: int = Field(default=50 * 1024 * 1024, gt=0)
    max_input_audio_seconds: float = Field(default=600.0, gt=0)
    fetch_timeout_seconds: float = Field(default=30.0, gt=0)
    allow_private_fetch: bool = Field(
        default=False, description="Let input URLs reach private addresses (tests, trusted LANs only)."
    )

    # --- worker throughput (see README "Worker throughput") ------------------------------------
    pipelining: bool = Field(
        default=True,
        description="Keep the device busy: prepare the next batches (prefetch_batches) and encode, store and "
        "complete finished tasks (encode_workers) while the device generates. Off: each batch is claimed, "
        "prepared, generated, encoded and stored in turn.",
    )
    prefetch_batches: int = Field(
        default=1,
        ge=0,
        le=8,
        description="Batches claimed and prepared (input audio fetched and decoded) ahead of the device while "
        "pipelining. Each holds its tasks away from other workers and its decoded inputs in memory.",
    )
    encode_workers: int = Field(
        default=0,
        ge=0,
        le=64,
        description="Threads that encode, store and complete generated tasks while pipelining; 0: the CPU cores "
        "less one, at least one.",
    )
    isolate_encoding: bool = Field(
        default=True,
        description="Each encode thread encodes in its own helper process, so an encoder crash fails one task, "
        "not the worker.",
    )
    encode_timeout_seconds: float = Field(default=120.0, gt=0, description="Longest one output may take to encode.")

    isolate_decoding: bool = Field(
        default=True,
        description="Decode input audio in a helper process (the worker) and measure it in helper processes (the "
        "API's create and upload), so a decoder crash on a crafted file fails that task or request, not the process.",
    )

    decode_timeout_seconds: float = Field(default=120.0, gt=0, description="Longest one input may take to decode.")

    # --- files ---------------------------------------------------------------------------------
    output_retention_hours: float = Field(default=72.0, gt=0)
    upload_retention_hours: float = Field(default=24.0, gt=0)
    webhook_retention_hours: float = Field(
        default=168.0,
        gt=0,
        description="Delivered and given-up webhook events (their payloads and secrets) are kept this long for "
        "inspection, then deleted by the janitor; pending ones are kept until sent or given up.",
    )
    janitor_interval_seconds: float = Field(default=300.0, gt=0)

    # --- webhooks ------------------------------------------------------------------------------
    webhook_timeout_seconds: float = Field(default=15.0, gt=0)
    webhook_retry_hours: float = Field(default=26.0, gt=0)
    webhook_poll_seconds: float = Field(default=1.0, gt=0)
    allow_private_webhooks: bool = Field(
        default=False, description="Let webhook endpoints be private addresses (your own LAN, localhost)."
    )

    # --- billing and limits --------------------------------------------------------------------
    price_usd_per_second: float = Field(default=0.0005, ge=0)
    default_max_concurrent: int = Field(default=10, ge=1)
    rate_limit_per_minute: int = Field(default=0, ge=0, description="Requests per key per minute; 0: off.")
    max_queued_tasks: int = Field(default=1000, ge=1, description="Pending tasks beyond which creates get 429.")
    max_queued_per_account: int = Field(
        default=200,
        ge=1,
        description="One account's waiting (pending or staged) tasks beyond which its creates get 429, so one "
        "account cannot fill the queue for all.",
    )

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = Field(
        default="text", description="text for people; json: one object per line for log shippers."
    )

    # --- metrics -------------------------------------------------------------------------------
    metrics_token: str = Field(
        default="", description="When set, /metrics needs `Authorization: Bearer <token>`.", repr=False
    )
    metrics_host: str = Field(default="127.0.0.1", description="Interface of a worker's --metrics-port.")
    metrics_port: int | None = Field(
        default=None, ge=0, le=65535, description="A worker serves its own metrics on this port (default: none)."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = _config_file.get()
        if config_file is not None:
            if not config_file.is_file():
                raise ValueError(f"Config file {config_file} does not exist.")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    @field_validator("lora")
    @classmethod
    def _adapter_specs(cls, value: list[str]) -> list[str]:
        parse_adapter_specs(value)  # raises ValueError naming what is wrong
        return value

    @property
    def adapters(self) -> dict[str, AdapterSpec]:
        """The ``--lora`` list by name."""
        return parse_adapter_specs(self.lora)

    @property
    def adapter_names(self) -> tuple[str, ...]:
        return tuple(self.adapters)

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @model_validator(mode="after")
    def _derive(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'aceserve.sqlite3').resolve()}"
        if not self.public_url:
            self.public_url = derived_public_url(self.host, self.port)
        return self

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "files"

    @property
    def encode_pool_size(self) -> int:
        """Encode threads a worker runs: ``encode_workers``, or the CPU cores less one (at least one)."""
        return self.encode_workers or max(1, available_cores() - 1)

    @property
    def worker_gone_after(self) -> float:
        """Seconds of silence after which a worker is gone: never under three heartbeats."""
        return max(self.worker_gone_seconds, 3 * self.heartbeat_seconds)


def available_cores() -> int:
    """CPU cores this process may run on (its affinity where the system tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def derived_public_url(host: str, port: int) -> str:
    """The public URL when none is set: this host (loopback for a wildcard) and port."""
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def load_settings(config_file: Path | None = None, **flags: Any) -> Settings:
    """Build the settings: flags (``None`` meaning not given) over env over the config file."""
    given = {key: value for key, value in flags.items() if value is not None}
    token = _config_file.set(config_file or _env_config_file())
    try:
        return Settings(**given)
    finally:
        _config_file.reset(token)


def _env_config_file() -> Path | None:
    value = os.environ.get("ACESERVE_CONFIG", "")
    return Path(value) if value else None

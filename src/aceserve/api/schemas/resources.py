"""Uploads (§6), account endpoints (§8), health, and the webhook event (§5)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Response
from pydantic import BaseModel, ConfigDict, Field

from aceserve.api.schemas.common import UUID4
from aceserve.api.schemas.task import Envelope, Task, TaskOutput, Time, Usage
from aceserve.domain.states import TaskStatus, TaskType

# --- Uploads (spec §6) -----------------------------------------------------------------------------

# Two frames of silence: a real WAV file, so the example upload succeeds.
TINY_WAV_DATA_URI = "data:audio/wav;base64,UklGRiwAAABXQVZFZm10IBAAAAABAAIAgLsAAADuAgAEABAAZGF0YQgAAAAAAAAAAAAAAA=="
UPLOAD_EXAMPLES: dict[str, dict[str, Any]] = {"wav": {"file_name": "silence.wav", "file_data": TINY_WAV_DATA_URI}}
UPLOAD_NAME_PATTERN = r"\.(?:[Mm][Pp]3|[Ww][Aa][Vv]|[Ff][Ll][Aa][Cc]|[Oo][Gg][Gg]|[Mm]4[Aa])$"


class UploadRequest(BaseModel):
    """Body of `POST /api/ephemeral_resource`. The file is deleted after 24 h."""

    file_name: str = Field(
        min_length=1,
        max_length=128,
        pattern=UPLOAD_NAME_PATTERN,
        description="≤ 128 characters, ending in .mp3, .wav, .flac, .ogg or .m4a (any case).",
        examples=["song.mp3"],
    )
    file_data: str = Field(
        min_length=1,
        description="The file as base64 or a `data:<type>;base64,…` URI whose type matches the extension; "
        "≤ 10 MB decoded; the bytes must be audio of the named type.",
        examples=[TINY_WAV_DATA_URI],
    )


class UploadedFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(description="Absolute URL, usable as a task's audio input.")


class UploadResponse(Envelope[UploadedFile]):
    """The uploaded file's URL in the envelope."""


# --- Account endpoints (spec §8) -------------------------------------------------------------------


class AccountInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account_id: str
    account_name: str
    equivalent_in_usd: float | None = Field(description="Balance available in USD; null for unlimited credit.")
    frozen_in_usd: float = Field(description="Held for unfinished tasks.")
    unlimited_credit: bool = Field(description="[ext] True when the account is never refused for credit.")
    max_concurrent_task_count: int = Field(description="Tasks beyond this many pending or processing are staged.")
    plan: str
    created_at: Time


class AccountInfoResponse(Envelope[AccountInfo]):
    """Account, balance and limits in the envelope."""


class ActiveTaskCounts(BaseModel):
    model_config = ConfigDict(extra="forbid")
    staged_count: int = Field(ge=0)
    pending_count: int = Field(ge=0)
    processing_count: int = Field(ge=0)
    active_tasks: int = Field(ge=0, description="The sum of the three counts.")


class ActiveTasks(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ace_step: ActiveTaskCounts


class ActiveTasksResponse(Envelope[ActiveTasks]):
    """Active task counts in the envelope."""


class HistoryDetail(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: Literal["Qubico/ace-step"]
    task_type: TaskType
    output: TaskOutput | None


class HistoryRow(BaseModel):
    model_config = ConfigDict(extra="forbid")
    task_id: str = Field(pattern=UUID4)
    task_model: Literal["Qubico/ace-step"]
    action: TaskType = Field(description="The task_type.")
    status: TaskStatus
    usage: Usage
    created_at: Time
    updated_at: Time
    detail: HistoryDetail


class HistoryPage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data: list[HistoryRow] = Field(description="Newest first.")
    page: int = Field(ge=1)
    size: int = Field(ge=1, le=100, description="The page_size asked for.")
    total: int = Field(ge=0, description="Tasks matching the filters, on all pages.")


class HistoryPageResponse(Envelope[HistoryPage]):
    """A page of task history in the envelope."""


# --- Health ----------------------------------------------------------------------------------------


class ComponentStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["ok"]


class DatabaseStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")
    backend: str = Field(examples=["sqlite", "postgresql"])
    status: Literal["ok"]


class WorkerStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    state: Literal["starting", "ready", "busy", "failed", "stopped", "unresponsive"] = Field(
        description="`unresponsive`: no heartbeat for 3 heartbeat intervals (at least 30 s)."
    )
    device: str
    model: str
    detail: str
    last_seen: Time


class Health(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["ok"]
    ready: bool = Field(description="True when the database is up and a worker is ready or busy.")
    api: ComponentStatus
    database: DatabaseStatus
    workers: list[WorkerStatus] = Field(description="Workers seen lately (stopped ones for an hour).")


class HealthResponse(Envelope[Health]):
    """HTTP 200 while the database answers; otherwise 503 in the error envelope."""


# --- Webhooks (spec §5), documented as a callback of the create route -------------------------------


class WebhookEvent(BaseModel):
    """Sent on creation and on every status change; terminal ones are retried for at least 24 h."""

    timestamp: int = Field(description="Unix seconds.")
    data: Task


webhook_callbacks = APIRouter()


@webhook_callbacks.post(
    "{$request.body#/config/webhook_config/endpoint}",
    summary="Task event",
    operation_id="task_event",
    response_class=Response,
    responses={
        200: {"description": "Acknowledged (any 2xx)."},
        410: {"description": "Gone: stop retrying."},
        "default": {"description": "Retried with exponential backoff and jitter."},
    },
)
def task_event(  # pragma: no cover - documentation only, never mounted
    event: WebhookEvent,
    x_webhook_secret: Annotated[str | None, Header(description="`webhook_config.secret`, when non-empty.")] = None,
    webhook_id: Annotated[str | None, Header(description="Standard Webhooks id, stable across retries.")] = None,
    webhook_timestamp: Annotated[str | None, Header(description="Standard Webhooks timestamp.")] = None,
    webhook_signature: Annotated[
        str | None, Header(description="`v1,<base64 HMAC-SHA256>` of `id.timestamp.body` with the account's secret.")
    ] = None,
) -> None:
    """Answer 2xx to acknowledge; 410 stops retries. Delivery never changes the task."""

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


class UploadedFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(description="Absolute URL, usable as a task's audio input.")


class UploadResponse(Envelope[UploadedFile]):
    """The uploaded file's URL in the envelope."""


# --- Account endpoints (spec §8) -------------------------------------------------------------------


class CreditPackInfo(BaseModel):
    """Credit in usage units (1e-6 USD): `total_credits` = `used_credits` + frozen + `available_credits`."""

    model_config = ConfigDict(extra="forbid")
    used_credits: int = Field(ge=0, description="Consumed by completed tasks.")
    available_credits: int = Field(ge=0, description="Available now (1e15 for unlimited credit).")
    total_credits: int = Field(ge=0, description="Ever credited (1e15 plus what was used for unlimited credit).")


class AccountInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(description="The account's id (PiAPI's name; also `account_id`).")
    name: str = Field(description="The account's name (PiAPI's name; also `account_name`).")
    plan: str = Field(description="`unlimited` or `credits`.")
    credit_pack_info: CreditPackInfo
    equivalent_in_usd: float = Field(description="Balance available in USD (1e9 for unlimited credit).")
    account_id: str
    account_name: str
    frozen_in_usd: float = Field(description="Held for unfinished tasks.")
    unlimited_credit: bool = Field(description="[ext] True when the account is never refused for credit.")
    max_concurrent_task_count: int = Field(description="Tasks beyond this many pending or processing are staged.")
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
    state: Literal["starting", "ready", "busy", "failed", "stopped", "gone"] = Field(
        description="Workers heartbeat while idle too. `gone`: no heartbeat for `worker_gone_seconds` (default 30 s, "
        "at least 3 heartbeats): it died unannounced and is not counted."
    )
    device: str
    model: str
    detail: str
    last_seen: Time


class Health(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["ok"]
    ready: bool = Field(
        description="As `/health/ready`: the database is up and, where workers are expected (`serve`), a live "
        "worker is ready or busy."
    )
    api: ComponentStatus
    database: DatabaseStatus
    workers: list[WorkerStatus] = Field(
        description="Workers heard from within `worker_forget_seconds` (default an hour); older ones are deleted."
    )
    adapters: list[str] = Field(
        description="Names of the LoRA/LoKr adapters this deployment loads (`--lora NAME=PATH`), for `input.lora`."
    )


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

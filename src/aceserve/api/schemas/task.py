"""The task object (spec §4) and the PiAPI envelope (spec §2)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from aceserve.api.schemas.common import UNSET_TIME, UUID4
from aceserve.domain.inputs_body import TaskConfig
from aceserve.domain.inputs_models import AnyTaskInput
from aceserve.domain.states import TaskStatus, TaskType

# --- The task object (spec §4) ----------------------------------------------------------------------

Time = Annotated[
    datetime,
    Field(description=f'RFC 3339 UTC with microseconds; `"{UNSET_TIME}"` while unset, never null.'),
]


class Usage(BaseModel):
    """Money in units of 1e-6 USD (500 per generated second at the default price: 10 s consume 5000)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["llm"]
    frozen: int = Field(ge=0, description="Held since create; 0 once the task ends.")
    consume: int = Field(ge=0, description="Charged on completion; 0 until then and for failed tasks.")


class TaskMeta(BaseModel):
    """Times and usage; [ext] keys (`progress`, `seed`, `duration`, …) may be added."""

    model_config = ConfigDict(extra="allow")
    created_at: Time
    started_at: Time
    ended_at: Time
    usage: Usage
    is_using_private_pool: bool
    progress: Annotated[float, Field(ge=0, le=1)] | SkipJsonSchema[None] = Field(
        None, description="[ext] 0–1; absent once failed."
    )
    queue_position: int | SkipJsonSchema[None] = Field(
        None, description="[ext] While pending: 1 for the next task a worker will claim, on GET only."
    )
    seed: int | SkipJsonSchema[None] = Field(None, description="[ext] The seed used, once known.")
    duration: float | SkipJsonSchema[None] = Field(None, description="[ext] Seconds of output, once completed.")
    steps: int | SkipJsonSchema[None] = Field(None, description="[ext] Denoising steps run, once completed.")
    guidance_scale: float | SkipJsonSchema[None] = Field(None, description="[ext] Guidance used, once completed.")
    variant: str | SkipJsonSchema[None] = Field(None, description="[ext] Model variant, once completed.")


class TaskOutput(BaseModel):
    audio_url: str = Field(description="Absolute URL of the audio file.", examples=["https://host/files/abc.mp3"])


class TaskError(BaseModel):
    """`code` 0 and empty strings unless the task failed."""

    model_config = ConfigDict(extra="forbid")
    code: int = Field(
        description="0; or 400 bad input, 402 credit short of what the input turned out to need (a URL's audio), "
        "499 cancelled by the client, 500 infrastructure."
    )
    raw_message: str
    message: str = Field(description='Why it failed; a cancelled task says "Task was cancelled by the client."')
    detail: None


class Task(BaseModel):
    """The task object. A cancelled task ends `failed` with `error.code` 499."""

    model_config = ConfigDict(extra="forbid")
    task_id: str = Field(pattern=UUID4, description="Lowercase UUIDv4.")
    model: Literal["Qubico/ace-step"]
    task_type: TaskType
    status: TaskStatus = Field(description="`staged` means held by the account's concurrency limit.")
    config: TaskConfig
    input: AnyTaskInput = Field(
        description="The normalized echo: keys sorted, defaults filled, aliases mapped to canonical names, "
        "unknown fields dropped, inline audio replaced by the URL of its stored copy; the model of `task_type`."
    )
    output: TaskOutput | None = Field(description="null until completed.")
    meta: TaskMeta
    detail: None
    logs: list[str]
    error: TaskError


# --- The envelope (spec §2) ------------------------------------------------------------------------

DataT = TypeVar("DataT")


class Envelope(BaseModel, Generic[DataT]):
    """A success: HTTP 200 with the data in the PiAPI envelope."""

    model_config = ConfigDict(extra="forbid")
    code: Literal[200]
    data: DataT
    message: Literal["success"]


class ErrorResponse(BaseModel):
    """Every error: HTTP status = `code`, `data` null, `message` a sentence naming the field and the rule."""

    model_config = ConfigDict(extra="forbid")
    code: int = Field(ge=400, le=599, description="The HTTP status.")
    data: None
    message: str = Field(min_length=1, examples=["`input.duration` must be between 10 and 600 seconds; got 5"])


class TaskResponse(Envelope[Task]):
    """The task object in the envelope."""

"""The rest of the create body (spec §3): ``config`` and the body per task type, whose ``input`` is the
task type's model (``domain/inputs_models.py``). ``CreateTaskBody`` is the OpenAPI request schema of
``POST /api/v1/task``."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from aceserve.domain.inputs_fields import MAX_URL_CHARS
from aceserve.domain.inputs_models import Audio2AudioInput, EditInput, ExtendInput, Txt2AudioInput
from aceserve.domain.inputs_schema import (
    HEADER_VALUE_PATTERN,
    HTTP_URL_PATTERN,
    HeaderValueKind,
    WebhookUrlKind,
    WireModel,
    field,
)
from aceserve.domain.states import MODEL_NAME, TaskType

MAX_WEBHOOK_SECRET_CHARS = 1024


class ServiceMode(StrEnum):
    """PiAPI's pool choice; echoed back, no other effect here."""

    DEFAULT = ""
    PUBLIC = "public"
    PRIVATE = "private"


class WebhookConfig(WireModel):
    endpoint: Annotated[str, WebhookUrlKind()] = field(
        "",
        max_length=MAX_URL_CHARS,
        schema_pattern=f"^(?:{HTTP_URL_PATTERN})?$",
        description='`""` (no webhooks) or an absolute http(s) URL that receives the task on every status change. '
        "Public addresses only: a private IP literal or `localhost` is refused unless the server allows it.",
        examples=["https://example.com/hooks/ace-step"],
    )
    secret: Annotated[str, HeaderValueKind()] = field(
        "",
        max_length=MAX_WEBHOOK_SECRET_CHARS,
        pattern=HEADER_VALUE_PATTERN,
        description="Sent verbatim in the `x-webhook-secret` header: printable ASCII, no surrounding spaces.",
        examples=["my-webhook-secret"],
    )


class TaskConfig(WireModel):
    service_mode: ServiceMode = field(ServiceMode.DEFAULT, description="Echoed back; no other effect here.")
    webhook_config: WebhookConfig = Field(default_factory=WebhookConfig)


class _CreateBody(WireModel):
    model: Literal["Qubico/ace-step"] = Field(description=f"Always `{MODEL_NAME}`.")
    config: TaskConfig | None = Field(None, description="Optional; defaults as shown.")


class CreateTxt2Audio(_CreateBody):
    """Create a `txt2audio` task."""

    task_type: Literal[TaskType.TXT2AUDIO]
    input: Txt2AudioInput


class CreateAudio2Audio(_CreateBody):
    """Create an `audio2audio` task."""

    task_type: Literal[TaskType.AUDIO2AUDIO]
    input: Audio2AudioInput


class CreateEdit(_CreateBody):
    """Create an `edit` task."""

    task_type: Literal[TaskType.EDIT]
    input: EditInput


class CreateExtend(_CreateBody):
    """Create an `extend` task."""

    task_type: Literal[TaskType.EXTEND]
    input: ExtendInput


CreateTaskBody = Annotated[
    CreateTxt2Audio | CreateAudio2Audio | CreateEdit | CreateExtend,
    Field(discriminator="task_type"),
]
"""Body of ``POST /api/v1/task``: ``input`` is the model of ``task_type``. Unknown fields are accepted and
named in the task's ``logs``."""

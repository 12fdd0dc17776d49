"""The wire format of the PiAPI contract as pydantic models, for the OpenAPI document only.

Nothing here validates a request or renders a response. The routes read raw bodies, so that
validation stays in ``aceserve.domain.inputs`` (our 400 messages, 413 while reading), and they
return the dicts that ``aceserve.store.render`` builds. These models describe those bodies: routes
use them in ``responses=`` (documentation only, no ``response_model``) and, for request bodies,
through ``request_body()`` in ``openapi_extra``. ``tests/api/test_openapi.py`` checks real responses
against them.

Two FastAPI limits shape this module. Components are registered only for models met in
``responses=``, parameters or callbacks, so a request body's top-level schema is inline; the models
it refers to (``TaskType``, ``TaskConfig``, the four input models) are components because the task
object refers to them too (``test_openapi`` checks every reference resolves). And FastAPI drops
every key whose value is ``null`` from the document, examples included, so no example here has one.
"""

from __future__ import annotations

from aceserve.api.schemas.common import REF_TEMPLATE
from aceserve.api.schemas.openapi import DOCUMENT_AUTH, FILE_CONTENT, request_body, responses
from aceserve.api.schemas.requests import (
    CREATE_EXAMPLES,
    CreateTaskRequest,
    ServiceMode,
    Txt2AudioInput,
)
from aceserve.api.schemas.resources import (
    TINY_WAV_DATA_URI,
    UPLOAD_EXAMPLES,
    AccountInfoResponse,
    ActiveTasksResponse,
    HealthResponse,
    HistoryPageResponse,
    UploadRequest,
    UploadResponse,
    webhook_callbacks,
)
from aceserve.api.schemas.task import ErrorResponse, Task, TaskResponse
from aceserve.domain.states import OutputFormat

__all__ = [
    "CREATE_EXAMPLES",
    "DOCUMENT_AUTH",
    "FILE_CONTENT",
    "REF_TEMPLATE",
    "TINY_WAV_DATA_URI",
    "UPLOAD_EXAMPLES",
    "AccountInfoResponse",
    "ActiveTasksResponse",
    "CreateTaskRequest",
    "ErrorResponse",
    "HealthResponse",
    "HistoryPageResponse",
    "OutputFormat",
    "ServiceMode",
    "Task",
    "TaskResponse",
    "Txt2AudioInput",
    "UploadRequest",
    "UploadResponse",
    "request_body",
    "responses",
    "webhook_callbacks",
]

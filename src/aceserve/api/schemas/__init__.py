"""The wire format of the PiAPI contract for the OpenAPI document.

Request bodies are the domain's models: the create body and each task type's input are
``aceserve.domain.inputs_models``, the upload body ``aceserve.domain.uploads.UploadRequest``; the
parsers that return them give our 400 messages (and 413 while reading), so the routes read raw
bodies and attach these schemas through ``request_body()`` in ``openapi_extra``. Responses are the
dicts that ``aceserve.store.render`` builds; the models here describe them in ``responses=``
(documentation only, no ``response_model``). ``tests/api/test_openapi.py`` checks real responses
against them and ``test_fuzz.py`` checks, with schemathesis, that the server accepts what the
request schemas accept and refuses what they refuse.

FastAPI registers components only for models met in ``responses=``, parameters or callbacks, so
``install_openapi`` adds the models that request bodies refer to. FastAPI drops every key whose value
is ``null`` from the document, examples included, so no example here has one.
"""

from __future__ import annotations

from aceserve.api.schemas.common import REF_TEMPLATE
from aceserve.api.schemas.examples import CREATE_EXAMPLES
from aceserve.api.schemas.openapi import FILE_CONTENT, authenticated, install_openapi, request_body, responses
from aceserve.api.schemas.resources import (
    TINY_WAV_DATA_URI,
    UPLOAD_EXAMPLES,
    AccountInfoResponse,
    ActiveTasksResponse,
    HealthResponse,
    HistoryPageResponse,
    UploadResponse,
    webhook_callbacks,
)
from aceserve.api.schemas.task import ErrorResponse, Task, TaskResponse

__all__ = [
    "CREATE_EXAMPLES",
    "FILE_CONTENT",
    "REF_TEMPLATE",
    "TINY_WAV_DATA_URI",
    "UPLOAD_EXAMPLES",
    "AccountInfoResponse",
    "ActiveTasksResponse",
    "ErrorResponse",
    "HealthResponse",
    "HistoryPageResponse",
    "Task",
    "TaskResponse",
    "UploadResponse",
    "authenticated",
    "install_openapi",
    "request_body",
    "responses",
    "webhook_callbacks",
]

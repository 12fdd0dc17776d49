"""``/api/v1/task``: create, fetch and cancel tasks (contract §3–§4)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from aceserve.api import schemas
from aceserve.api.body import read_json
from aceserve.api.deps import (
    AccountDep,
    Services,
    ServicesDep,
    current_caller,
    invalid_key,
    key_hash_from,
    note_key_use_async,
    services_of,
)
from aceserve.api.envelope import success, success_response
from aceserve.api.task_object import read_task, view_of
from aceserve.domain.errors import InvalidInput, NotFound
from aceserve.domain.inputs import parse_create_request
from aceserve.domain.inputs_body import CreateTaskBody
from aceserve.store import tasks as task_store
from aceserve.store.render import absolute_urls, render_task
from aceserve.webhooks import check_endpoint_at_create

router = schemas.authenticated(APIRouter(prefix="/api/v1", tags=["tasks"]))

MAX_IDEMPOTENCY_KEY_LENGTH = 255
IDEMPOTENCY_KEY_PARAMETER: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Repeat a create safely: the same key returns the original task (1 to 255 characters).",
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY_LENGTH},
}


def idempotency_key_from(request: Request) -> str | None:
    """The ``Idempotency-Key`` header (1 to 255 characters), or None when the request has none."""
    key = request.headers.get("idempotency-key")
    if key is not None and not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH:
        raise InvalidInput(
            "Idempotency-Key", f"must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters long; it is {len(key)}."
        )
    return key


@router.post(
    "/task",
    summary="Create a task",
    description="Validates the body, freezes the estimated cost and queues the task (`pending`, or `staged` "
    "beyond the account's concurrency limit). With `config.webhook_config.endpoint` set, every status change "
    "is posted there (see callbacks).",
    operation_id="create_task",
    response_model=None,
    responses=schemas.responses(
        schemas.TaskResponse,
        400,
        401,
        402,
        413,
        429,
        description="The new task, or the earlier one with this `Idempotency-Key`.",
    ),
    openapi_extra={
        "requestBody": schemas.request_body(CreateTaskBody, examples=schemas.CREATE_EXAMPLES),
        "parameters": [IDEMPOTENCY_KEY_PARAMETER],
    },
    callbacks=schemas.webhook_callbacks.routes,
)
async def create_task(request: Request) -> Response:
    # As the poll: the caller and the header are read here, not as dependencies (FastAPI's solving of
    # them cost a sixth of a create); the OpenAPI document declares both all the same.
    services = services_of(request)
    caller = await current_caller(request, services)
    idempotency_key = idempotency_key_from(request)
    body = await read_json(request)
    task = await submit_body(
        services, caller.account_id, body, idempotency_key=idempotency_key, key_hash=caller.key_hash
    )
    return success_response(task)


async def submit_body(
    services: Services,
    account_id: str,
    body: Any,
    *,
    idempotency_key: str | None = None,
    key_hash: str | None = None,
) -> dict[str, Any]:
    """The create step for a parsed JSON body (REST and MCP): the new task, with absolute URLs.
    ``key_hash``: the caller's API key, checked again in the create's transaction."""
    command = parse_create_request(body, max_inline_audio_bytes=services.settings.max_input_audio_bytes)
    check_endpoint_at_create(command.webhook_endpoint, allow_private=services.settings.allow_private_webhooks)
    task = await services.creates.run(
        services.submitter.submit,
        account_id,
        command,
        quick=command.quick,
        idempotency_key=idempotency_key,
        key_hash=key_hash,
    )
    return absolute_urls(task, services.settings.public_url)


@router.get(
    "/task/{task_id}",
    summary="Fetch a task",
    operation_id="get_task",
    response_model=None,
    responses=schemas.responses(
        schemas.TaskResponse, 401, 404, 429, descriptions={404: "No task with this id belongs to this account."}
    ),
)
async def get_task(task_id: str, request: Request) -> Response:
    # The poll path: one prepared read checks the key and reads the task (no separate auth dependency),
    # where ``services.reads`` runs it (inline on SQLite).
    services = services_of(request)
    key_hash = key_hash_from(request)
    found = await services.reads.run(task_store.read_for_key, services.db, key_hash, task_id)
    if found.account_id is None:
        raise invalid_key()
    services.rate_limiter.check(key_hash)
    await note_key_use_async(services.db, found.key_id, found.key_last_used_at)
    if found.task is None:
        raise NotFound(f"Task {task_id} was not found.")
    return success_response(view_of(found.task, services.settings.public_url).data)


def task_view(services: Services, account_id: str, task_id: str) -> dict[str, Any]:
    """One of the account's tasks as ``GET /api/v1/task/{id}`` shows it (REST, MCP; the event stream sends
    the same ``read_task``)."""
    return read_task(services.db, account_id, task_id, services.settings.public_url).data


@router.delete(
    "/task/{task_id}",
    summary="Cancel a task",
    description="A staged or pending task ends `failed` at once (error code 499, credit released); a processing "
    "one is stopped by its worker within a step, so it may still read `processing` here.",
    operation_id="cancel_task",
    response_model=None,
    responses=schemas.responses(
        schemas.TaskResponse,
        400,
        401,
        404,
        429,
        descriptions={
            400: "The task already ended (completed or failed).",
            404: "No task with this id belongs to this account.",
        },
    ),
)
def cancel_task(task_id: str, account: AccountDep, services: ServicesDep) -> dict[str, Any]:
    return success(cancel(services, account.id, task_id))


def cancel(services: Services, account_id: str, task_id: str) -> dict[str, Any]:
    """Cancel one of the account's tasks (REST and MCP); 400 when it already ended."""
    with services.db.write() as session:
        task = task_store.cancel_task(session, account_id, task_id)
        data = absolute_urls(render_task(task), services.settings.public_url)
    services.wakeup.notify()  # a cancelled task may free a slot for a staged one
    return data

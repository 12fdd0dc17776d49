"""``POST /api/ephemeral_resource``: upload a file as base64 JSON, get a URL usable as task input (§6)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from aceserve.api import schemas
from aceserve.api.body import read_json
from aceserve.api.deps import AccountDep, ServicesDep
from aceserve.api.envelope import success
from aceserve.domain.uploads import MAX_UPLOAD_BYTES, UploadRequest, check_upload
from aceserve.store.render import absolute_url
from aceserve.store.uploads import save_upload

router = schemas.authenticated(APIRouter(tags=["uploads"]))
# base64 of the largest file, plus room for the JSON around it.
_MAX_BODY = (MAX_UPLOAD_BYTES + 2) // 3 * 4 + 64 * 1024


@router.post(
    "/api/ephemeral_resource",
    summary="Upload an audio file; the URL works as task input",
    operation_id="upload_file",
    response_model=None,
    responses=schemas.responses(
        schemas.UploadResponse,
        400,
        401,
        413,
        429,
        descriptions={413: "The body, or the decoded file, is larger than the 10 MiB upload limit."},
    ),
    openapi_extra={"requestBody": schemas.request_body(UploadRequest, examples=schemas.UPLOAD_EXAMPLES)},
)
async def upload(request: Request, account: AccountDep, services: ServicesDep) -> dict[str, Any]:
    too_large = f"Upload is larger than the {MAX_UPLOAD_BYTES // (1024 * 1024)} MiB limit."
    body = await read_json(request, limit=_MAX_BODY, too_large=too_large)
    checked = check_upload(body)
    settings = services.settings
    path = await run_in_threadpool(
        save_upload,
        services.db,
        services.storage,
        account.id,
        checked,
        prober=services.submitter.prober,
        retention_hours=settings.upload_retention_hours,
        max_seconds=settings.max_input_audio_seconds,
    )
    return success({"url": absolute_url(settings.public_url, path)})

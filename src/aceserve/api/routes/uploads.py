"""``POST /api/ephemeral_resource``: upload a file as base64 JSON, get a URL usable as task input (§6)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from aceserve.api import schemas
from aceserve.api.body import read_json
from aceserve.api.deps import AccountDep, Services, ServicesDep
from aceserve.api.envelope import success
from aceserve.domain.errors import InvalidInput, PayloadTooLarge
from aceserve.media import sniff_audio_type
from aceserve.store.files import file_path, put_file
from aceserve.store.render import absolute_url

router = APIRouter(tags=["uploads"], dependencies=schemas.DOCUMENT_AUTH)

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_FILE_NAME = 128
UPLOAD_EXTENSIONS = ("mp3", "wav", "flac", "ogg", "m4a")
# Accepted data URI types per extension (browsers and tools disagree on the names).
MIME_ALIASES: dict[str, set[str]] = {
    "mp3": {"audio/mpeg", "audio/mp3", "audio/mpeg3", "audio/x-mpeg-3"},
    "wav": {"audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave"},
    "flac": {"audio/flac", "audio/x-flac"},
    "ogg": {"audio/ogg", "application/ogg", "audio/vorbis", "audio/opus"},
    "m4a": {"audio/mp4", "audio/m4a", "audio/x-m4a", "audio/aac"},
}
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
        descriptions={413: "The body, or the decoded file, is larger than the 10 MB upload limit."},
    ),
    openapi_extra={"requestBody": schemas.request_body(schemas.UploadRequest, examples=schemas.UPLOAD_EXAMPLES)},
)
async def upload(request: Request, account: AccountDep, services: ServicesDep) -> dict[str, Any]:
    too_large = f"Upload is larger than the {MAX_UPLOAD_BYTES // (1024 * 1024)} MB limit."
    body = await read_json(request, limit=_MAX_BODY, too_large=too_large)
    if not isinstance(body, dict):
        raise InvalidInput("body", "must be a JSON object with `file_name` and `file_data`")
    ext, data = check_upload(body)
    path = await run_in_threadpool(_store, services, account.id, ext, data)
    return success({"url": absolute_url(services.settings.public_url, path)})


def check_upload(body: dict[str, Any]) -> tuple[str, bytes]:
    """Validate name, declared type, size and the bytes' real type; returns (ext, bytes)."""
    name = body.get("file_name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("file_name", "is required and must be a non-empty string")
    if len(name) > MAX_FILE_NAME:
        raise InvalidInput("file_name", f"must be at most {MAX_FILE_NAME} characters; got {len(name)}")
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext not in UPLOAD_EXTENSIONS:
        raise InvalidInput("file_name", f"must end in one of .{', .'.join(UPLOAD_EXTENSIONS)}; got {name!r}")
    payload = body.get("file_data")
    if not isinstance(payload, str) or not payload:
        raise InvalidInput("file_data", "is required and must be a base64 string or a data: URI")
    if payload.startswith("data:"):
        header, comma, payload = payload.partition(",")
        mime = header[5:].split(";", 1)[0].strip().lower()
        if not comma or ";base64" not in header.lower():
            raise InvalidInput("file_data", "data: URI must be base64-encoded (data:<type>;base64,<data>)")
        if mime not in MIME_ALIASES[ext]:
            raise InvalidInput("file_data", f"data: URI type {mime!r} does not match the .{ext} extension")
    try:
        data = base64.b64decode("".join(payload.split()), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("file_data", "is not valid base64") from None
    if not data:
        raise InvalidInput("file_data", "decodes to an empty file")
    if len(data) > MAX_UPLOAD_BYTES:
        raise PayloadTooLarge(f"`file_data` decodes to {len(data)} bytes; the limit is {MAX_UPLOAD_BYTES} bytes.")
    sniffed = sniff_audio_type(data)
    if sniffed != ext:
        found = f"{sniffed} audio" if sniffed else "not a recognised audio format"
        raise InvalidInput("file_data", f"content is {found}, which does not match the .{ext} extension")
    return ext, data


def _store(services: Services, account_id: str, ext: str, data: bytes) -> str:
    record = put_file(
        services.storage,
        data,
        kind="upload",
        ext=ext,
        retention_hours=services.settings.upload_retention_hours,
        account_id=account_id,
    )
    try:
        with services.db.write() as session:
            session.add(record)
    except BaseException:
        services.storage.delete(record.storage_key)
        raise
    return file_path(record)

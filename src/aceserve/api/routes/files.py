"""``/files/{id}.{ext}``: download outputs and stored inputs. Ids are opaque random tokens, so a
file URL works without an API key, like PiAPI's CDN links; it expires with the file."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

from aceserve.api import schemas
from aceserve.api.deps import ServicesDep
from aceserve.domain.errors import NotFound
from aceserve.storage import FileMissing
from aceserve.store.files import FILE_ROUTE, get_live_file, parse_file_path

router = APIRouter(tags=["files"])


@router.get(
    FILE_ROUTE + "{name}",
    summary="Download a file",
    description="Outputs and stored inputs, by their opaque URL; no API key needed. Gone once the file expires.",
    operation_id="download_file",
    response_class=Response,
    responses=schemas.responses(schemas.FILE_CONTENT, 404, descriptions={404: "No such file, or it has expired."}),
)
def download(name: str, services: ServicesDep) -> Response:
    parsed = parse_file_path(FILE_ROUTE + name)
    if parsed is None:
        raise NotFound(f"File {name} was not found.")
    with services.db.read() as session:
        record = get_live_file(session, *parsed)
    if record is None:
        raise NotFound(f"File {name} was not found or has expired.")
    headers = {"Cache-Control": "private, max-age=3600"}
    local = services.storage.open_path(record.storage_key)
    if local is not None:
        return FileResponse(
            local, media_type=record.content_type, headers=headers, filename=f"{record.id}.{record.ext}"
        )
    try:
        data = services.storage.get(record.storage_key)
    except FileMissing:
        raise NotFound(f"File {name} is no longer stored.") from None
    return Response(data, media_type=record.content_type, headers=headers)

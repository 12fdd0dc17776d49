"""Route documentation helpers: auth schemes, error entries, request bodies."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPBearer
from pydantic import BaseModel, TypeAdapter

from aceserve.api.schemas.common import REF_TEMPLATE
from aceserve.api.schemas.task import ErrorResponse
from aceserve.media import CONTENT_TYPES

# --- Route documentation helpers -------------------------------------------------------------------

api_key_scheme = APIKeyHeader(
    name="x-api-key", scheme_name="ApiKey", auto_error=False, description="The API key (header name in any case)."
)
bearer_scheme = HTTPBearer(scheme_name="Bearer", auto_error=False, description="`Authorization: Bearer <key>`.")
_AUTHENTICATED: list[APIRouter] = []
_SECURITY: list[dict[str, list[str]]] = [{api_key_scheme.scheme_name: []}, {bearer_scheme.scheme_name: []}]


def authenticated(router: APIRouter) -> APIRouter:
    """Document that every route of ``router`` takes the API key, either way (``install_openapi`` writes it
    into the document). Documentation only: the routes check keys themselves (``deps``), and the schemes
    as ``Security`` dependencies would run on every request for nothing (a sixth of a poll's time)."""
    _AUTHENTICATED.append(router)
    return router


ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "Invalid request: the message names the field and the rule (never 422).",
    401: "Missing, unknown or revoked API key.",
    402: "Insufficient credit: the balance cannot cover the task's estimated cost.",
    404: "Not found.",
    413: "Request body too large (enforced while reading).",
    429: "Rate limit or queue limit reached; retry after `Retry-After` seconds.",
}


FILE_CONTENT: dict[str, Any] = {
    "description": "The file's bytes; `Cache-Control: private, max-age=3600`.",
    "content": {
        media_type: {"schema": {"type": "string", "format": "binary"}}
        for media_type in [*CONTENT_TYPES.values(), "application/octet-stream"]
    },
}


def responses(
    success: type[BaseModel] | dict[str, Any],
    *statuses: int,
    descriptions: dict[int, str] | None = None,
    description: str = "Success.",
) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: 200 (a model, or a response object as is), the listed error
    statuses and a default error, all in the error envelope."""
    ok = success if isinstance(success, dict) else {"model": success, "description": description}
    documented: dict[int | str, dict[str, Any]] = {200: ok}
    for status in statuses:
        entry: dict[str, Any] = {
            "model": ErrorResponse,
            "description": (descriptions or {}).get(status, ERROR_DESCRIPTIONS[status]),
        }
        if status == 429:
            entry["headers"] = {
                "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}
            }
        documented[status] = entry
    documented["default"] = {"model": ErrorResponse, "description": "Any other error (405, 500 …), same envelope."}
    return documented


_BODY_COMPONENTS: dict[str, Any] = {}


def request_body(model: Any, *, examples: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """An ``openapi_extra`` request body from ``model``'s JSON schema (a model, or a type such as a
    discriminated union), nested models as component refs that ``install_openapi`` adds.
    ``tests/api/test_openapi.py`` checks that every reference resolves.
    """
    schema = TypeAdapter(model).json_schema(ref_template=REF_TEMPLATE)
    _BODY_COMPONENTS.update(schema.pop("$defs", {}))
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": schema,
                "examples": {
                    name: {"summary": name.replace("_", " "), "value": value} for name, value in examples.items()
                },
            }
        },
    }


def install_openapi(app: FastAPI) -> None:
    """Add the models that request bodies refer to as components of ``app``'s document."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            components = document.setdefault("components", {}).setdefault("schemas", {})
            # The models' own schemas, also where a response refers to the same model: FastAPI's copies
            # pass through its OpenAPI model, which turns integer bounds into floats (2^63 - 1 rounds up).
            components.update(_BODY_COMPONENTS)
            _document_auth(document)
        return app.openapi_schema or generate()

    app.openapi = openapi  # type: ignore[method-assign]


def _document_auth(document: dict[str, Any]) -> None:
    schemes = document["components"].setdefault("securitySchemes", {})
    for scheme in (api_key_scheme, bearer_scheme):
        schemes[scheme.scheme_name] = scheme.model.model_dump(mode="json", by_alias=True, exclude_none=True)
    for router in _AUTHENTICATED:
        for route in router.routes:
            if not isinstance(route, APIRoute) or not route.include_in_schema:
                continue
            operations = document["paths"].get(route.path_format, {})
            for method in route.methods or ():
                if method.lower() in operations:
                    operations[method.lower()]["security"] = _SECURITY

"""Pages for people: ``/docs`` (Swagger UI) and ``/redoc``, served from files that ship with the
Python packages, so they render on a machine with no internet.

Swagger UI's and ReDoc's bundles come from the ``fastapi-offline`` package (its ``static`` folder,
with the bundles' own licence notices); nothing is fetched from a CDN, and no web font is loaded.
Every page is sent with a Content-Security-Policy that lets it load only from this server.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"
DOCS_ASSETS_ROUTE = "/assets/docs"

# The documentation pages start their viewers with an inline script, and ReDoc runs a worker from a blob.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
PAGE_HEADERS = {"Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}

router = APIRouter(include_in_schema=False)


def _page(response: HTMLResponse, csp: str) -> HTMLResponse:
    response.headers.update({"Content-Security-Policy": csp, **PAGE_HEADERS})
    return response


@router.get("/docs")
def swagger_ui() -> HTMLResponse:
    return _page(
        get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="aceserve API",
            swagger_js_url=f"{DOCS_ASSETS_ROUTE}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS_ROUTE}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS_ROUTE}/favicon.png",
            # No online validator badge (it would call a third-party host).
            swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": False},
        ),
        DOCS_CSP,
    )


@router.get("/redoc")
def redoc() -> HTMLResponse:
    return _page(
        get_redoc_html(
            openapi_url="/openapi.json",
            title="aceserve API",
            redoc_js_url=f"{DOCS_ASSETS_ROUTE}/redoc.standalone.js",
            redoc_favicon_url=f"{DOCS_ASSETS_ROUTE}/favicon.png",
            with_google_fonts=False,
        ),
        DOCS_CSP,
    )


def install_pages(app: FastAPI) -> None:
    """The documentation pages and their assets (the app is built with ``docs_url=None, redoc_url=None``)."""
    app.mount(DOCS_ASSETS_ROUTE, StaticFiles(directory=DOCS_ASSETS), name="docs-assets")
    app.include_router(router)

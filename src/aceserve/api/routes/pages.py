"""Pages for people: the studio at ``/``, ``/docs`` (Swagger UI) and ``/redoc``, served from files that
ship with the Python packages, so they render on a machine with no internet.

The studio is plain HTML, CSS and ES modules in ``aceserve/studio/`` (package data; no build step).

Swagger UI's and ReDoc's bundles come from the ``fastapi-offline`` package (its ``static`` folder,
with the bundles' own licence notices); nothing is fetched from a CDN, and no web font is loaded.
Every page is sent with a Content-Security-Policy that lets it load only from this server.
"""

from __future__ import annotations

import functools
from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"
DOCS_ASSETS_ROUTE = "/assets/docs"
STUDIO_FILES = Path(__file__).resolve().parents[2] / "studio"
STUDIO_ASSETS_ROUTE = "/assets/studio"

# The documentation pages start their viewers with an inline script, and ReDoc runs a worker from a blob.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
# The studio runs no inline code at all. Output files are this server's (its public URL's origin).
STUDIO_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob: {origin}; connect-src 'self' {origin}; font-src 'self'; object-src 'none'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
PAGE_HEADERS = {"Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}

REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
"""ReDoc's sidebar credit loads its logo from Redocly's CDN. The bundle is served with that address replaced
by an empty ``data:`` URL, which ReDoc treats as a failed image and hides (the credit's text stays)."""

router = APIRouter(include_in_schema=False)


@functools.cache
def redoc_bundle() -> bytes:
    return (DOCS_ASSETS / "redoc.standalone.js").read_bytes().replace(REDOC_LOGO.encode(), b"data:,")


@router.get(f"{DOCS_ASSETS_ROUTE}/redoc.standalone.js")
def redoc_script() -> Response:
    return Response(redoc_bundle(), media_type="text/javascript", headers={"Cache-Control": "public, max-age=3600"})


def _page(response: HTMLResponse, csp: str) -> HTMLResponse:
    response.headers.update({"Content-Security-Policy": csp, **PAGE_HEADERS})
    return response


@router.get("/")
def studio(request: Request) -> HTMLResponse:
    """The studio's page; its scripts and styles are under ``/assets/studio/``."""
    origin = request.app.state.services.settings.public_url
    page = HTMLResponse((STUDIO_FILES / "index.html").read_text(encoding="utf-8"))
    page.headers["Cache-Control"] = "no-cache"
    return _page(page, STUDIO_CSP.format(origin=origin).replace("  ", " "))


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
    """The studio, the documentation pages and their assets (the app is built without FastAPI's own docs)."""
    app.include_router(router)  # first: its ReDoc bundle is served instead of the file under the mount
    app.mount(DOCS_ASSETS_ROUTE, StaticFiles(directory=DOCS_ASSETS), name="docs-assets")
    app.mount(STUDIO_ASSETS_ROUTE, StaticFiles(directory=STUDIO_FILES), name="studio-assets")

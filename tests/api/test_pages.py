"""The pages for people load nothing from other hosts: every URL they reference is this server's and
is served. (tests/browser renders them in chromium and watches every request they make.)"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.server import RunningServer, make_settings, serving

REFERENCE = re.compile(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']|url:\s*'([^']+)'""")


@pytest.fixture(scope="module")
def pages_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data = tmp_path_factory.mktemp("pages")
    with serving(make_settings(data, f"sqlite:///{Path(data) / 'db.sqlite3'}", workers=0)) as server:
        yield server


def references(html: str) -> list[str]:
    """Every URL the page loads or links to, less links within the page (``#…``)."""
    return [url for url in (first or second for first, second in REFERENCE.findall(html)) if not url.startswith("#")]


@pytest.mark.parametrize("path", ["/", "/docs", "/redoc"])
def test_pages_reference_only_this_server(pages_server: RunningServer, path: str) -> None:
    page = pages_server.anonymous().get(path)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    urls = references(page.text)
    assert len(urls) >= 3
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), f"{path} references {url} on another host"
        assert pages_server.anonymous().get(url).status_code == 200, f"{path} references {url}, not served"
    assert "fonts.googleapis" not in page.text and "cdn." not in page.text


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_documentation_pages_forbid_other_hosts_by_policy(pages_server: RunningServer, path: str) -> None:
    headers = pages_server.anonymous().get(path).headers
    assert headers["content-security-policy"].startswith("default-src 'self'")
    assert "http" not in headers["content-security-policy"]
    assert headers["referrer-policy"] == "no-referrer"


def test_swagger_ui_does_not_call_the_online_validator(pages_server: RunningServer) -> None:
    assert '"validatorUrl": null' in pages_server.anonymous().get("/docs").text


def test_documentation_bundles_are_served_whole(pages_server: RunningServer) -> None:
    redoc = pages_server.anonymous().get("/assets/docs/redoc.standalone.js")
    assert redoc.status_code == 200 and len(redoc.content) > 100_000
    swagger = pages_server.anonymous().get("/assets/docs/swagger-ui-bundle.js")
    assert swagger.status_code == 200 and len(swagger.content) > 100_000


def test_the_redoc_bundle_is_served_without_its_cdn_logo(pages_server: RunningServer) -> None:
    bundle = pages_server.anonymous().get("/assets/docs/redoc.standalone.js")
    assert bundle.headers["content-type"].startswith("text/javascript")
    assert b"cdn.redoc.ly" not in bundle.content and b"API docs by Redocly" in bundle.content


def test_the_studio_runs_no_inline_script_and_sends_no_referrer(pages_server: RunningServer) -> None:
    page = pages_server.anonymous().get("/")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "unsafe" not in policy
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "<script>" not in page.text and 'type="module" src="/assets/studio/js/main.js"' in page.text


def test_every_studio_module_is_served(pages_server: RunningServer) -> None:
    from aceserve.api.routes.pages import STUDIO_FILES

    modules = sorted(path.name for path in (STUDIO_FILES / "js").glob("*.js"))
    assert {"api.js", "form.js", "layout.js", "main.js", "player.js", "schema.js"} <= set(modules)
    for name in modules:
        script = pages_server.anonymous().get(f"/assets/studio/js/{name}")
        assert script.status_code == 200 and "javascript" in script.headers["content-type"]
        imports = re.findall(r'from "\./([a-z]+\.js)"', script.text)
        assert set(imports) <= set(modules), f"{name} imports a module that is not shipped"
        assert "http://" not in script.text and "https://" not in script.text.replace("https://…", "")

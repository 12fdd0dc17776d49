"""The studio in a real browser: Debian's chromium, driven by Playwright, against `aceserve serve --model
tiny` started as a user starts it. Playwright's own browser download cannot work here, so it is pointed at
the system binary (`make` installs it with apt-get when it is missing). Every test here is marked
``browser``; each group loads its page once."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.api.server import free_port

CHROMIUM = os.environ.get("ACESERVE_TEST_CHROMIUM", "/usr/bin/chromium")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@dataclass
class Studio:
    url: str
    key: str
    process: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"x-api-key": self.key}, timeout=30)


@pytest.fixture(scope="package")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    """`aceserve serve --model tiny` on a free loopback port, its SQLite database and files in a temp dir."""
    data_dir = tmp_path_factory.mktemp("studio")
    port = free_port()
    command = [sys.executable, "-m", "aceserve", "serve", "--model", "tiny", "--device", "cpu"]
    command += ["--port", str(port), "--data-dir", str(data_dir)]
    env = {**os.environ, "ACESERVE_LOG_LEVEL": "warning", "ACESERVE_HEARTBEAT_SECONDS": "0.5"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    output: list[str] = []
    deadline = time.monotonic() + 180
    assert process.stdout is not None
    while not any("listening on" in line for line in output):
        line = process.stdout.readline()
        assert line and time.monotonic() < deadline, f"aceserve serve did not start: {output}"
        output.append(line)
    key = re.search(r"\b(ak_[A-Za-z0-9_-]+)", "".join(output))
    assert key is not None, output
    running = Studio(f"http://127.0.0.1:{port}", key.group(1), process, output)
    with running.client() as client:
        while not client.get("/health").json()["data"]["ready"]:
            assert time.monotonic() < deadline, "the worker never became ready"
            time.sleep(0.1)
    yield running
    process.terminate()
    process.wait(60)


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    # Package scope, not session: Playwright's sync driver leaves its asyncio loop marked as running in the
    # main thread until it stops, so any later test that starts a loop of its own (anyio.run) would fail.
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    assert Path(CHROMIUM).is_file(), (
        f"{CHROMIUM} is missing: the browser tests need Debian's chromium (`apt-get install chromium`, "
        "which `make pytest` runs when it is missing)"
    )
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
    yield launched
    launched.close()


@dataclass
class Visit:
    """A page, every URL it requested and the script errors it raised."""

    page: Page
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def foreign(self, origin: str) -> list[str]:
        return [
            url for url in self.requests if not (url.startswith(origin + "/") or url.startswith(("data:", "blob:")))
        ]


def open_page(browser: Browser, url: str, *, width: int = 1280, height: int = 900) -> Visit:
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(30_000)
    visit = Visit(page)
    page.on("request", lambda request: visit.requests.append(request.url))
    page.on("pageerror", lambda error: visit.errors.append(str(error)))
    page.goto(url)
    return visit

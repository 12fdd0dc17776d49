"""The MCP server driven by the official SDK's own client, over streamable HTTP at ``/mcp`` and over
stdio through ``aceserve mcp``, against a real server with a worker on the tiny checkpoint."""

from __future__ import annotations

import base64
import itertools
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult

from aceserve.domain.inputs_models import INPUT_MODELS
from aceserve.domain.states import TaskType
from aceserve.media import decode_audio
from tests.api.server import RunningServer, free_port, make_settings, running_server
from tests.audio import tone_wav

pytestmark = pytest.mark.timeout(180)

TOOLS = {
    "make_song",
    "restyle_audio",
    "edit_audio",
    "extend_audio",
    "get_task",
    "list_tasks",
    "cancel_task",
    "account_credit",
}

Connect = Callable[[RunningServer], AbstractAsyncContextManager[Client]]


@asynccontextmanager
async def over_http(server: RunningServer, key: str | None = None) -> AsyncIterator[Client]:
    http = httpx2.AsyncClient(headers={"x-api-key": key or server.key}, timeout=httpx2.Timeout(30, read=120))
    async with http, Client(streamable_http_client(f"{server.url}/mcp", http_client=http)) as client:
        yield client


@asynccontextmanager
async def over_http_legacy(server: RunningServer, key: str | None = None) -> AsyncIterator[Client]:
    """The 2025 protocol versions: an initialize handshake and a session the server keeps."""
    http = httpx2.AsyncClient(headers={"x-api-key": key or server.key}, timeout=httpx2.Timeout(30, read=120))
    transport = streamable_http_client(f"{server.url}/mcp", http_client=http)
    async with http, Client(transport, mode="legacy") as client:
        assert client.protocol_version < "2026"
        yield client


@asynccontextmanager
async def over_stdio(server: RunningServer, key: str | None = None) -> AsyncIterator[Client]:
    """``aceserve mcp`` as a desktop agent starts it: a child process spoken to over its stdin and stdout."""
    params = StdioServerParameters(command=sys.executable, args=bridge_args(server.url, key or server.key))
    async with Client(params) as client:
        yield client


def bridge_args(url: str, key: str) -> list[str]:
    return ["-m", "aceserve", "mcp", "--url", url, "--key", key]


def run(test: Callable[[], Any]) -> None:
    anyio.run(test)


class Progress:
    def __init__(self) -> None:
        self.seen: list[tuple[float, float | None, str | None]] = []

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.seen.append((progress, total, message))


def structured(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert isinstance(result.structured_content, dict)
    return result.structured_content


def error_text(result: CallToolResult) -> str:
    assert result.is_error, result.structured_content
    return " ".join(getattr(block, "text", "") for block in result.content)


def seconds_of(url: str) -> float:
    response = httpx.get(url)
    assert response.status_code == 200
    return decode_audio(response.content).shape[-1] / 48_000


def check_agent_session(server: RunningServer, connect: Connect) -> None:
    async def session() -> None:
        async with connect(server) as client:
            listed = await client.list_tools()
            assert {tool.name for tool in listed.tools} == TOOLS
            song_tool = next(tool for tool in listed.tools if tool.name == "make_song")
            fields = set(song_tool.input_schema["properties"])
            assert fields == set(INPUT_MODELS[TaskType.TXT2AUDIO].model_fields) - {"style_audio"} | {"wait"}
            assert "[chorus]" in (song_tool.description or "")

            progress = Progress()
            song = structured(
                await client.call_tool(
                    "make_song",
                    {"style_prompt": "synthwave", "lyrics": "[verse]\nneon", "duration": 4, "seed": 7},
                    progress_callback=progress,
                )
            )
            assert song["status"] == "completed" and song["seed"] == 7 and song["duration"] == 4
            assert abs(seconds_of(song["audio_url"]) - 4) < 0.01
            assert progress.seen, "no progress notification"
            values = [value for value, _, _ in progress.seen]
            assert (
                all(a < b for a, b in itertools.pairwise(values))
                and values[-1] == 1.0
                and progress.seen[-1][2] == "completed"
            )

            extended = structured(
                await client.call_tool(
                    "extend_audio",
                    {"audio": song["audio_url"], "style_prompt": "synthwave", "right_extend_duration": 2},
                )
            )
            assert extended["status"] == "completed" and abs(seconds_of(extended["audio_url"]) - 6) < 0.01

            got = structured(await client.call_tool("get_task", {"task_id": extended["task_id"]}))
            assert got["audio_url"] == extended["audio_url"] and got["duration"] == extended["duration"]

            listed_tasks = structured(await client.call_tool("list_tasks", {}))
            assert [row["task_id"] for row in listed_tasks["tasks"]][:2] == [extended["task_id"], song["task_id"]]
            credit = structured(await client.call_tool("account_credit", {}))
            assert credit["unlimited_credit"] is True

            bad = await client.call_tool("make_song", {"style_prompt": "x", "duration": 601})
            assert "400" in error_text(bad) and "`input.duration` must be" in error_text(bad)
            missing = await client.call_tool("get_task", {"task_id": "nope"})
            assert "404" in error_text(missing)

    run(session)


@pytest.mark.parametrize("connect", [over_http, over_http_legacy], ids=["2026-07-28", "handshake"])
def test_an_agent_over_streamable_http_lists_makes_extends_gets_and_sees_a_400(
    server: RunningServer, connect: Connect
) -> None:
    check_agent_session(server, connect)


def test_a_wrong_key_on_mcp_is_401_and_no_tool_runs(server: RunningServer) -> None:
    for headers in ({}, {"x-api-key": "ak_wrong"}, {"authorization": "Bearer ak_wrong"}):
        response = httpx.post(
            f"{server.url}/mcp",
            headers={**headers, "accept": "application/json, text/event-stream"},
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        )
        assert response.status_code == 401, response.text
        assert response.json()["code"] == 401 and "API key" in response.json()["message"]


@pytest.fixture
def idle_server(tmp_path: Path, database_url: str) -> Iterator[RunningServer]:
    """The API without workers: a task stays pending until cancelled."""
    with running_server(make_settings(tmp_path / "data", database_url, workers=0)) as running:
        yield running


def check_cancel(server: RunningServer, connect: Connect) -> None:
    async def session() -> None:
        async with connect(server) as client:
            progress = Progress()
            with anyio.move_on_after(60) as scope:

                async def cancel_on_first_progress(value: float, total: float | None, message: str | None) -> None:
                    await progress(value, total, message)
                    scope.cancel()

                await client.call_tool("make_song", {"style_prompt": "x"}, progress_callback=cancel_on_first_progress)
            assert progress.seen and progress.seen[0][2] == "pending: number 1 in the queue"

    run(session)
    rows = server.client.get("/api/open/tasks/histories").json()["data"]["data"]
    assert len(rows) == 1
    deadline = time.monotonic() + 10
    while (task := server.client.get(f"/api/v1/task/{rows[0]['task_id']}").json()["data"])["status"] != "failed":
        assert time.monotonic() < deadline, task
        time.sleep(0.05)
    assert task["error"]["code"] == 499


@pytest.mark.parametrize("connect", [over_http, over_http_legacy], ids=["2026-07-28", "handshake"])
def test_cancelling_a_call_over_streamable_http_cancels_its_task(idle_server: RunningServer, connect: Connect) -> None:
    check_cancel(idle_server, connect)


def test_the_account_rules_of_rest_hold_on_mcp(server: RunningServer) -> None:
    broke = server.new_key("broke", credits_usd=0)

    async def session() -> None:
        async with over_http(server, broke) as client:
            result = await client.call_tool("make_song", {"style_prompt": "x", "duration": 5})
            assert error_text(result).startswith("402: ")
            assert structured(await client.call_tool("list_tasks", {}))["tasks"] == []
            credit = structured(await client.call_tool("account_credit", {}))
            assert credit == {**credit, "account": "broke", "unlimited_credit": False, "available_usd": 0}

    run(session)


def test_an_agent_over_stdio_lists_makes_extends_gets_and_sees_a_400(server: RunningServer) -> None:
    check_agent_session(server, over_stdio)


def test_cancelling_a_call_over_stdio_cancels_its_task(idle_server: RunningServer) -> None:
    check_cancel(idle_server, over_stdio)


def test_the_stdio_bridge_exits_with_the_reason_on_a_wrong_key_or_an_unreachable_url(
    idle_server: RunningServer,
) -> None:
    def bridge(url: str, key: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, *bridge_args(url, key)]
        return subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)

    refused = bridge(idle_server.url, "ak_wrong")
    assert refused.returncode == 1 and refused.stdout == ""
    assert f"The server at {idle_server.url} said: Invalid API key" in refused.stderr and "--key" in refused.stderr
    unreachable = bridge(f"http://127.0.0.1:{free_port()}", idle_server.key)
    assert unreachable.returncode == 1 and "Cannot reach the server" in unreachable.stderr


def test_wait_false_returns_at_once_and_get_task_waits_with_progress(server: RunningServer) -> None:
    audio = "data:audio/wav;base64," + base64.b64encode(tone_wav(3.0)).decode()

    async def session() -> None:
        async with over_http(server) as client:
            started = structured(
                await client.call_tool(
                    "restyle_audio", {"style_audio": audio, "style_prompt": "jazz", "duration": 2, "wait": False}
                )
            )
            assert started["status"] in ("pending", "processing") and "audio_url" not in started
            progress = Progress()
            done = structured(
                await client.call_tool(
                    "get_task", {"task_id": started["task_id"], "wait": True}, progress_callback=progress
                )
            )
            assert done["status"] == "completed" and abs(seconds_of(done["audio_url"]) - 2) < 0.01
            assert progress.seen[-1][0] == 1.0
            ended = await client.call_tool("cancel_task", {"task_id": done["task_id"]})
            assert error_text(ended).startswith("400: ")
            wrong = await client.call_tool("get_task", {"task_id": done["task_id"], "wait": "yes"})
            assert error_text(wrong) == "400: `wait` must be true or false; got 'yes'"

    run(session)


def test_an_mcp_session_answers_only_the_account_that_opened_it(idle_server: RunningServer) -> None:
    server = idle_server
    other = server.new_key("other")
    # A session id from one account's handshake is "not found" for another account's key.
    opened = httpx.post(
        f"{server.url}/mcp",
        headers={"x-api-key": server.key, "accept": "application/json, text/event-stream"},
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        },
    )
    session_id = opened.headers["mcp-session-id"]
    for key, status in ((other, 404), (server.key, 202)):
        response = httpx.post(
            f"{server.url}/mcp",
            headers={
                "x-api-key": key,
                "mcp-session-id": session_id,
                "mcp-protocol-version": "2025-06-18",
                "accept": "application/json, text/event-stream",
            },
            json={"jsonrpc": "2.0", "method": "notifications/initialized"},
        )
        assert response.status_code == status, response.text

"""``aceserve mcp --url URL --key KEY``: aceserve's MCP tools over stdio, for desktop agents.

A bridge, not a second implementation: it connects to the server's ``/mcp`` (streamable HTTP, with the
key) through the SDK's client and serves what it finds there over stdio through the SDK's server. Tool
calls, their progress notifications and their cancellation pass through unchanged. Before it serves
anything it checks the URL and the key with the REST client, and exits with a clear message if either
is wrong.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from aceserve import __version__
from aceserve.cli.generate import DEFAULT_URL
from aceserve.client import AceClient, ApiError, ServerUnreachable

if TYPE_CHECKING:  # the MCP SDK takes a second to import: only `aceserve mcp` itself loads it
    from mcp import Client
    from mcp.server.context import ServerRequestContext
    from mcp.server.lowlevel import Server
    from mcp.types import CallToolRequestParams, CallToolResult, ListToolsResult, PaginatedRequestParams

MCP_PATH = "/mcp"
CONNECT_SECONDS = 30.0


@click.command("mcp")
@click.option("--url", envvar="ACESERVE_URL", default=DEFAULT_URL, show_default=True, help="Server URL.")
@click.option("--key", envvar="ACESERVE_API_KEY", default=None, help="API key (or ACESERVE_API_KEY).")
def mcp_command(url: str, key: str | None) -> None:
    """Serve the server's MCP tools over stdio, for a desktop agent (its `command` runs this).

    Exits 1 with the reason when the server cannot be reached or refuses the key.
    """
    if not key:
        raise click.UsageError("No API key: pass --key or set ACESERVE_API_KEY (`aceserve keys create` makes one).")
    url = url.rstrip("/")
    check_server(url, key)
    import anyio

    anyio.run(bridge, url, key)


def check_server(url: str, key: str) -> None:
    """Raises ``ClickException`` saying what is wrong when the server is unreachable or refuses the key."""
    with AceClient(url, key, timeout=CONNECT_SECONDS) as client:
        try:
            client.account()
        except ServerUnreachable as exc:
            raise click.ClickException(f"{exc}. Is aceserve running there? (--url or ACESERVE_URL)") from exc
        except ApiError as exc:
            hint = " (check --key or ACESERVE_API_KEY)" if exc.status == 401 else ""
            raise click.ClickException(f"The server at {url} said: {exc.message}{hint}") from exc


async def bridge(url: str, key: str) -> None:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.server.stdio import stdio_server

    # No read timeout: a tool call waits for its task, which may sit in a queue for a long while.
    http = httpx2.AsyncClient(headers={"x-api-key": key}, timeout=httpx2.Timeout(CONNECT_SECONDS, read=None))
    async with http, Client(streamable_http_client(f"{url}{MCP_PATH}", http_client=http)) as remote:
        server = bridge_server(remote)
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())


def bridge_server(remote: Client) -> Server[Any]:
    """A server whose tools are ``remote``'s: listings and calls are forwarded, progress comes back."""
    from mcp.server.lowlevel import Server

    async def on_list_tools(
        ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams | None
    ) -> ListToolsResult:
        return await remote.list_tools(cursor=params.cursor if params else None)

    async def on_call_tool(ctx: ServerRequestContext[Any, Any], params: CallToolRequestParams) -> CallToolResult:
        async def forward(progress: float, total: float | None, message: str | None) -> None:
            await ctx.session.report_progress(progress, total, message)

        # A cancelled call is cancelled here too: the SDK tells the server, which cancels the task.
        return await remote.call_tool(params.name, params.arguments, progress_callback=forward)

    info = remote.server_info
    return Server(
        "aceserve",
        version=info.version if info else __version__,
        title=info.title if info else None,
        instructions=remote.instructions,
        on_list_tools=on_list_tools,
        on_call_tool=on_call_tool,
    )

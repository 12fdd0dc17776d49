"""The MCP server at ``/mcp`` (streamable HTTP), authenticated with the REST API's keys.

Every HTTP request to ``/mcp`` passes the REST API's authentication (``x-api-key`` or
``Authorization: Bearer``, the per-key rate limit): a missing, unknown or revoked key is the REST 401
envelope, and no MCP message is read. The account it finds rides on the request to the tool handler,
and an MCP session is bound to the account that opened it. The tools are in ``calls.py``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import mcp.types as mcp_types
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from aceserve import __version__
from aceserve.api.deps import Services, current_account, services_of
from aceserve.api.envelope import error_response
from aceserve.api.mcp.calls import Caller, ToolFailed, call_tool
from aceserve.api.mcp.catalogue import ToolSpec, build_catalogue
from aceserve.domain.errors import AceserveError, TooManyRequests

MCP_PATH = "/mcp"
_CALLER = "aceserve.mcp.caller"
"""The ASGI scope key the authenticated caller rides on, from the auth check to the tool handler."""

INSTRUCTIONS = (
    "aceserve makes music with ACE-Step. make_song creates a song from a style prompt and lyrics; "
    "restyle_audio, edit_audio and extend_audio take an existing audio URL (an earlier task's audio_url works). "
    "Task tools wait for the result and return audio_url, duration and seed; get_task and list_tasks find "
    "earlier tasks, account_credit shows the balance."
)


def build_server(tools: dict[str, ToolSpec]) -> Server[Any]:
    listed = [
        mcp_types.Tool(
            name=tool.name,
            title=tool.title,
            description=tool.description,
            input_schema=tool.input_schema,
            annotations=mcp_types.ToolAnnotations(
                title=tool.title, read_only_hint=tool.read_only, open_world_hint=False, destructive_hint=False
            ),
        )
        for tool in tools.values()
    ]

    async def on_list_tools(
        ctx: ServerRequestContext[Any, Any], params: mcp_types.PaginatedRequestParams | None
    ) -> mcp_types.ListToolsResult:
        return mcp_types.ListToolsResult(tools=listed)

    async def on_call_tool(
        ctx: ServerRequestContext[Any, Any], params: mcp_types.CallToolRequestParams
    ) -> mcp_types.CallToolResult:
        tool = tools.get(params.name)
        if tool is None:
            return _failure(f"Unknown tool {params.name!r}; the tools are: {', '.join(tools)}.", None)
        request = ctx.request
        caller = request.scope.get(_CALLER) if isinstance(request, Request) else None
        if not isinstance(caller, Caller):
            return _failure("401: this MCP server answers only authenticated HTTP requests.", None)

        async def report(progress: float, total: float | None, message: str | None) -> None:
            await ctx.session.report_progress(progress, total, message)

        try:
            result = await call_tool(caller, tool, dict(params.arguments or {}), report)
        except ToolFailed as failed:
            return _failure(failed.message, failed.detail)
        return mcp_types.CallToolResult(
            content=[mcp_types.TextContent(text=json.dumps(result, ensure_ascii=False))],
            structured_content=result,
        )

    return Server(
        "aceserve",
        version=__version__,
        title="aceserve music generation",
        instructions=INSTRUCTIONS,
        on_list_tools=on_list_tools,
        on_call_tool=on_call_tool,
    )


def _failure(message: str, detail: dict[str, Any] | None) -> mcp_types.CallToolResult:
    return mcp_types.CallToolResult(
        content=[mcp_types.TextContent(text=message)], structured_content=detail, is_error=True
    )


class McpEndpoint:
    """The ASGI app at ``/mcp``: the REST API's key check, then the SDK's streamable-HTTP transport.

    Its session manager runs inside the API's lifespan (``running``); one endpoint per app.
    """

    def __init__(self, services: Services) -> None:
        self.server = build_server(build_catalogue())
        self.manager = StreamableHTTPSessionManager(
            app=self.server, max_request_body_size=services.settings.max_body_bytes
        )

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with self.manager.run():
            yield

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        services = services_of(request)
        try:
            account = current_account(request, services)
        except AceserveError as exc:
            headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequests) else None
            response = error_response(exc.status_code, exc.message, headers)
            await response(scope, receive, send)
            return
        # The SDK binds a session to the credential that opened it: here, the account.
        scope["user"] = AuthenticatedUser(AccessToken(token="", client_id=account.id, scopes=[]))
        scope[_CALLER] = Caller(services, account.id)
        await self.manager.handle_request(scope, receive, send)


class McpRoute:
    """The route's ASGI endpoint: hands each request to the app's ``McpEndpoint``, built by its lifespan."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint: McpEndpoint = scope["app"].state.mcp
        await endpoint(scope, receive, send)


def install_mcp(app: Starlette) -> None:
    """Serve MCP at ``/mcp`` (the lifespan sets ``app.state.mcp`` and runs it)."""
    app.router.routes.append(Route(MCP_PATH, endpoint=McpRoute(), methods=["GET", "POST", "DELETE"]))

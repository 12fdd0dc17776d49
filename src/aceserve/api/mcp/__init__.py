"""MCP for agents: the tools (``catalogue.py``), what they do (``calls.py``) and the streamable-HTTP server
at ``/mcp`` (``server.py``), over the same services as the REST routes."""

from aceserve.api.mcp.server import MCP_PATH, McpEndpoint, install_mcp

__all__ = ["MCP_PATH", "McpEndpoint", "install_mcp"]

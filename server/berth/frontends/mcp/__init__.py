"""Berth's MCP server (`berth mcp`): the engine's operations as tools for coding agents."""

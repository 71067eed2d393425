"""MCP clients for the tests: the SDK's own `mcp.Client`, in process on `build_server()` or over
stdio on a real `berth mcp` subprocess, recording the progress and log notifications it gets."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mcp.types as mt
import pytest
from mcp import Client, StdioServerParameters

from berth.frontends.mcp.server import build_server
from conftest import RepoFactory
from e2e.host_config import host_toml

BERTH_MCP = [sys.executable, "-m", "berth", "mcp"]


@dataclass
class Recorder:
    """What the server sent besides answers."""

    progress: list[tuple[float, float | None, str | None]] = field(default_factory=list)
    logs: list[mt.LoggingMessageNotificationParams] = field(default_factory=list)

    async def on_progress(self, progress: float, total: float | None, message: str | None) -> None:
        self.progress.append((progress, total, message))

    async def on_log(self, params: mt.LoggingMessageNotificationParams) -> None:
        self.logs.append(params)


def roots_callback(*roots: Path) -> Any:
    async def list_roots(_ctx: Any) -> mt.ListRootsResult:
        return mt.ListRootsResult(roots=[mt.Root(uri=r.as_uri(), name=r.name) for r in roots])  # type: ignore[arg-type]

    return list_roots


def structured(result: mt.CallToolResult) -> dict[str, Any]:
    assert result.structured_content is not None, result.content
    return result.structured_content


def text(result: mt.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, mt.TextContent)
    return block.text


async def call_ok(client: Client, name: str, arguments: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    result = await client.call_tool(name, arguments, **kwargs)
    assert not result.is_error, text(result)
    return structured(result)


async def call_error(client: Client, name: str, arguments: dict[str, Any]) -> mt.CallToolResult:
    result = await client.call_tool(name, arguments)
    assert result.is_error, f"{name} {arguments} succeeded: {result.content}"
    return result


@pytest.fixture
def mcp_repo(make_repo: RepoFactory, port_base: int) -> Path:
    return make_repo(host_toml(port_base))


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@asynccontextmanager
async def in_memory(
    repo: Path, recorder: Recorder, *, roots: tuple[Path, ...] | None = None
) -> AsyncIterator[Client]:
    """The server in process; the client declares `roots` (default: the repository) as its MCP roots.
    (A context manager, not a fixture: the SDK's task groups must be entered and left in one task.)"""
    async with Client(
        build_server(cwd=repo),
        list_roots_callback=roots_callback(*(roots if roots is not None else (repo,))),
        logging_callback=recorder.on_log,
    ) as client:
        yield client


@asynccontextmanager
async def legacy_in_memory(repo: Path, recorder: Recorder) -> AsyncIterator[Client]:
    """In process, negotiated by the initialize handshake (protocol 2025-11-25) like most clients today."""
    async with Client(
        build_server(cwd=repo),
        mode="legacy",
        list_roots_callback=roots_callback(repo),
        logging_callback=recorder.on_log,
    ) as client:
        yield client


@asynccontextmanager
async def legacy_over_stdio(repo: Path, recorder: Recorder) -> AsyncIterator[Client]:
    async with over_stdio(repo, recorder, mode="legacy") as client:
        yield client


def stdio_params(cwd: Path) -> StdioServerParameters:
    return StdioServerParameters(command=BERTH_MCP[0], args=BERTH_MCP[1:], cwd=str(cwd))


@asynccontextmanager
async def over_stdio(repo: Path, recorder: Recorder, *, mode: Any = "auto") -> AsyncIterator[Client]:
    """`berth mcp` as a subprocess started in the repository, a client without roots (so the
    server's working directory is the repository)."""
    async with Client(stdio_params(repo), mode=mode, logging_callback=recorder.on_log) as client:
        yield client

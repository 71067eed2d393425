"""Cancelling a tool call rolls back (shielded) and says what was undone; sessions brought up over
MCP are the JSON-RPC server's sessions too; stdout carries nothing but protocol."""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import anyio
import anyio.streams.buffered
import pytest
from mcp import Client

from e2e.host_config import host_toml
from e2e.mcp.conftest import BERTH_MCP, Recorder, call_ok, in_memory, legacy_in_memory, legacy_over_stdio
from e2e.rpc.conftest import connect
from waiting import wait_until_async
from world import assert_nothing_left

Connect = Callable[[Path, Recorder], AbstractAsyncContextManager[Client]]


@pytest.mark.parametrize(
    "connect_mcp", [in_memory, legacy_in_memory, legacy_over_stdio], ids=["in-memory", "legacy", "stdio"]
)
async def test_cancel_during_slow_hook_rolls_back(
    mcp_repo: Path, port_base: int, tmp_path: Path, recorder: Recorder, connect_mcp: Connect
) -> None:
    flag = tmp_path / "hook-running"
    (mcp_repo / "berth.toml").write_text(host_toml(port_base, pre_spawn=f"touch {flag}; exec sleep 120"))
    async with connect_mcp(mcp_repo, recorder) as client:
        async with anyio.create_task_group() as group:

            async def up() -> None:
                await client.call_tool("berth_up", {"branch": "slow"}, progress_callback=recorder.on_progress)

            group.start_soon(up)
            await wait_until_async(flag.exists, timeout=30, what="the pre_spawn hook to start")
            group.cancel_scope.cancel()  # the client sends notifications/cancelled

        # A cancelled request is never answered (MCP). The error goes out as the call's last progress
        # message (a 2026-07-28 client still routes it) and, with its structured content, as a log
        # message (the logging capability of the handshake protocols).
        def reported() -> str | None:
            for _p, _t, m in recorder.progress:
                if m and m.startswith("cancelled: "):
                    return m.removeprefix("cancelled: ")
            for log in recorder.logs:
                if isinstance(log.data, dict):
                    return str(log.data["text"])
            return None

        message = await wait_until_async(
            reported,
            timeout=30,
            what="the rollback report",
            detail=lambda: (recorder.progress, recorder.logs),
        )
        assert "cancelled and everything it created was rolled back" in message
        assert "rolled back: " in message and "remove worktree" in message and "release" in message
        if client.protocol_version != "2026-07-28":
            report = next(log.data for log in recorder.logs if isinstance(log.data, dict))
            assert report["code"] == "CANCELLED" and report["text"] == message
            kinds = [step["kind"] for step in report["rolledBack"]]
            assert {"remove_worktree", "release_leases"} <= set(kinds) and kinds[-1] == "forget_session"
            assert all(step["state"] == "undone" for step in report["rolledBack"])
        assert_nothing_left(mcp_repo, "slow", branch_created="slow")
        assert (await client.call_tool("berth_list", {})).structured_content == {"sessions": []}, (
            "still serving"
        )


async def test_session_from_mcp_is_in_the_json_rpc_server(
    mcp_repo: Path, tmp_path: Path, recorder: Recorder
) -> None:
    rpc = await connect("stdio", mcp_repo, tmp_path)
    try:
        assert await rpc.request("berth/list", {}) == {"sessions": []}
        async with in_memory(mcp_repo, recorder) as client:
            session = await call_ok(client, "berth_up", {"branch": "shared"})
            listed = await rpc.request("berth/list", {})
            assert [(s["slug"], s["ports"]) for s in listed["sessions"]] == [("shared", session["ports"])]

            def changed_to(status: str) -> bool:
                return any(c["slug"] == "shared" and c["status"] == status for c in rpc.changes)

            await wait_until_async(
                lambda: changed_to("active"), timeout=30, what="berth/sessionChanged active"
            )
            await call_ok(client, "berth_down", {"slug": "shared"})
            await wait_until_async(
                lambda: changed_to("removed"), timeout=30, what="berth/sessionChanged removed"
            )
        assert await rpc.request("berth/list", {}) == {"sessions": []}
    finally:
        await rpc.lsp.shutdown_session()
        await rpc.lsp.stop()


async def _read_message(stdout: Any) -> dict[str, Any]:
    line = await stdout.readline()
    assert line, "the server closed stdout"
    return json.loads(line)  # type: ignore[no-any-return]


async def test_stdout_carries_only_protocol_messages(mcp_repo: Path, port_base: int) -> None:
    """Raw JSON-RPC over a real `berth mcp`: hooks and services that print to stdout and stderr do
    not reach the protocol stream; every line on stdout is a JSON-RPC message."""
    (mcp_repo / "berth.toml").write_text(
        host_toml(
            port_base, pre_up="echo PRE-UP-STDOUT", post_up="echo POST-UP-STDOUT; echo POST-UP-STDERR >&2"
        )
    )
    requests = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "0"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "berth_up", "arguments": {"branch": "noisy"}, "_meta": {"progressToken": "p"}},
        },
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {
                "name": "berth_exec",
                "arguments": {"slug": "noisy", "argv": ["sh", "-c", "echo EXEC-OUT"]},
            },
        },
        {
            "jsonrpc": "2.0",
            "id": 4,
            "method": "tools/call",
            "params": {"name": "berth_down", "arguments": {"slug": "noisy"}},
        },
    ]
    proc = await anyio.open_process(
        BERTH_MCP, cwd=mcp_repo, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    messages: list[dict[str, Any]] = []
    async with proc:
        assert proc.stdin is not None and proc.stdout is not None
        stdout = anyio.streams.buffered.BufferedByteReceiveStream(proc.stdout)
        for request in requests:
            await proc.stdin.send((json.dumps(request) + "\n").encode())
            if "id" not in request:
                continue
            while True:
                with anyio.fail_after(120):
                    raw = await stdout.receive_until(b"\n", 1 << 24)
                message = json.loads(raw)
                messages.append(message)
                assert message.get("jsonrpc") == "2.0", raw
                if message.get("id") == request["id"]:
                    assert "result" in message, message
                    assert not message["result"].get("isError"), message
                    break
        await proc.stdin.aclose()
        with anyio.fail_after(30):
            await proc.wait()
        assert proc.stderr is not None
        rest = b"".join([chunk async for chunk in _chunks(proc.stdout)])
    assert rest.strip() == b"", f"stdout after the last answer: {rest!r}"
    methods = {m.get("method") for m in messages if "method" in m}
    assert methods <= {"notifications/progress", "notifications/message"}, methods
    assert any(m.get("method") == "notifications/progress" for m in messages)
    raw_text = json.dumps(messages)
    assert "PRE-UP-STDOUT" not in raw_text and "POST-UP-STDOUT" not in raw_text
    assert "EXEC-OUT" in raw_text, "what berth_exec captures is in its answer, not on stdout"
    assert_nothing_left(mcp_repo, "noisy")


async def _chunks(stream: Any) -> AsyncIterator[bytes]:
    try:
        while True:
            yield await stream.receive()
    except (anyio.EndOfStream, anyio.ClosedResourceError):
        return

"""Transport and lifecycle: TCP token auth, several clients, surviving a client's exit, and exit
while work is in flight."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from pathlib import Path

import pytest
from pygls.exceptions import JsonRpcException

from e2e.host_config import host_toml
from e2e.rpc.conftest import SERVE, connect, start_tcp_server, stop_process_group, wait_until
from e2e.rpc.rawconn import RawConnection, start_stdio_server
from world import assert_nothing_left


@pytest.fixture
def tcp_server(tmp_path: Path):  # type: ignore[no-untyped-def]
    proc, port, token = start_tcp_server(tmp_path)
    yield port, token, proc
    stop_process_group(proc)


def raw_tcp(port: int) -> tuple[socket.socket, RawConnection]:
    sock = socket.create_connection(("127.0.0.1", port))
    return sock, RawConnection(sock.fileno(), sock.sendall)


def test_tcp_refuses_a_client_without_the_token(tcp_server: tuple[int, str, object], rpc_repo: Path) -> None:
    port, _, _ = tcp_server
    for options in (None, {"token": "wrong"}):
        sock, conn = raw_tcp(port)
        with sock:
            conn.send(
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "initialize",
                    "params": {
                        "processId": None,
                        "rootUri": rpc_repo.as_uri(),
                        "capabilities": {},
                        "initializationOptions": options,
                    },
                }
            )
            response = conn.response_to(1)
            assert "token" in response["error"]["message"]
            assert response["error"]["data"]["code"] == "AUTH_FAILED"
            with pytest.raises((EOFError, ConnectionResetError)):
                conn.send({"jsonrpc": "2.0", "id": 2, "method": "berth/list", "params": {}})
                conn.response_to(2, timeout=5)


def test_tcp_refuses_requests_before_authentication(tcp_server: tuple[int, str, object]) -> None:
    port, _, _ = tcp_server
    sock, conn = raw_tcp(port)
    with sock:
        conn.send({"jsonrpc": "2.0", "id": 1, "method": "berth/list", "params": {"root": "/tmp"}})
        error = conn.response_to(1)["error"]
        assert "not authenticated" in error["message"] and error["data"]["code"] == "AUTH_FAILED"


def test_tcp_rejects_non_loopback_binding() -> None:
    result = subprocess.run([*SERVE, "--tcp", "0.0.0.0:0"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "error [INVALID_ARGUMENT]: refusing to listen on 0.0.0.0" in result.stderr


async def test_two_clients_at_once_and_the_server_survives_an_exit(
    tcp_server: tuple[int, str, subprocess.Popen[str]], rpc_repo: Path, tmp_path: Path
) -> None:
    port, token, proc = tcp_server
    first = await connect("tcp", rpc_repo, tmp_path, token=token, port=port)
    second = await connect("tcp", rpc_repo, tmp_path, token=token, port=port)
    a, b = await asyncio.gather(
        first.request("berth/up", {"branch": "from-a"}), second.request("berth/up", {"branch": "from-b"})
    )
    assert {a["slot"], b["slot"]} == {1, 2}
    await wait_until(
        lambda: any(c["slug"] == "from-a" and c["status"] == "active" for c in second.changes),
        what="client B hears about A's session",
    )
    await first.lsp.shutdown_session()
    await first.lsp.stop()
    listed = await second.request("berth/list", {})
    assert {s["slug"] for s in listed["sessions"]} == {"from-a", "from-b"}
    assert proc.poll() is None, "the daemon survives a client's exit"
    third = await connect("tcp", rpc_repo, tmp_path, token=token, port=port)
    for slug in ("from-a", "from-b"):
        await third.request("berth/down", {"slug": slug})
    for client in (second, third):
        await client.lsp.shutdown_session()
        await client.lsp.stop()


def test_exit_while_up_is_in_flight_rolls_it_back(rpc_repo: Path, port_base: int, tmp_path: Path) -> None:
    flag = tmp_path / "in-hook"
    (rpc_repo / "berth.toml").write_text(host_toml(port_base, pre_spawn=f"touch {flag}; exec sleep 120"))
    proc, conn = start_stdio_server(rpc_repo)
    conn.send({"jsonrpc": "2.0", "id": 1, "method": "berth/up", "params": {"branch": "inflight"}})
    asyncio.run(wait_until(flag.exists, what="the hook to start"))
    conn.send({"jsonrpc": "2.0", "method": "exit"})
    assert proc.wait(timeout=30) == 1, "exit without shutdown ends with status 1"
    assert_nothing_left(rpc_repo, "inflight", branch_created="inflight")


async def test_window_work_done_progress_cancel_rolls_back(
    rpc_repo: Path, port_base: int, tmp_path: Path
) -> None:
    from lsprotocol import types
    from pygls.exceptions import JsonRpcRequestCancelled

    flag = tmp_path / "in-hook"
    (rpc_repo / "berth.toml").write_text(host_toml(port_base, pre_spawn=f"touch {flag}; exec sleep 120"))
    client = await connect("stdio", rpc_repo, tmp_path)
    try:
        request = asyncio.ensure_future(client.request("berth/up", {"branch": "ui-cancel"}))
        await wait_until(flag.exists, what="the hook to start")
        (token,) = client.lsp.progress_reports
        client.lsp.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
        with pytest.raises((JsonRpcRequestCancelled, JsonRpcException)) as info:
            await request
        assert info.value.code == -32800
        assert client.progress_kinds(str(token))[-1] == "end"
        assert_nothing_left(rpc_repo, "ui-cancel", branch_created="ui-cancel")
    finally:
        await client.lsp.shutdown_session()
        await client.lsp.stop()

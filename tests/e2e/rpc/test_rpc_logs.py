"""`berth/logs` over a real `berth serve` (stdio and TCP) on a real host-mode session: the last
lines, a follow streamed as `berth/logLine` until `$/cancelRequest` or until the session goes down,
and a client that does not read getting a counted skipped marker instead of unbounded buffering."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import pytest_asyncio
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from berth.lifecycle.engine import DownRequest, Engine
from berth.lifecycle.workspace import Workspace
from berth.modes.context import UpRequest
from conftest import RepoFactory
from e2e.logs_world import host_logs_toml, logs_port_base, ticker, wait_for_lines
from e2e.rpc.conftest import BerthClient, connect, start_tcp_server, stop_process_group, wait_until
from e2e.rpc.rawconn import RawConnection
from waiting import wait_until as wait_until_sync


@pytest.fixture
def logs_repo(make_repo: RepoFactory) -> Path:
    repo = make_repo(host_logs_toml(logs_port_base(), {"web": ticker("web", 0.1), "worker": ticker("job")}))
    Engine(Workspace(repo)).up(UpRequest(branch="feat/logs"))
    wait_for_lines(repo, "feat-logs", "web", 3)
    return repo


@pytest_asyncio.fixture(params=["stdio", "tcp"])
async def client(
    request: pytest.FixtureRequest, logs_repo: Path, tmp_path: Path
) -> AsyncIterator[tuple[BerthClient, list[dict[str, Any]]]]:
    server: subprocess.Popen[str] | None = None
    if request.param == "tcp":
        server, port, token = start_tcp_server(tmp_path)
        berth = await connect("tcp", logs_repo, tmp_path, token=token, port=port)
    else:
        berth = await connect("stdio", logs_repo, tmp_path)
    lines: list[dict[str, Any]] = []
    berth.lsp.feature("berth/logLine")(lambda params: lines.append(params))
    try:
        yield berth, lines
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(berth.lsp.shutdown_session(), 30)
        await berth.lsp.stop()
        if server is not None:
            stop_process_group(server)


async def test_logs_returns_the_last_lines(client: tuple[BerthClient, list[dict[str, Any]]]) -> None:
    berth, notes = client
    result = await berth.request("berth/logs", {"slug": "feat-logs", "services": ["web"], "tail": 2})
    assert [x["service"] for x in result["lines"]] == ["web", "web"] and "ended" not in result
    a, b = (int(x["text"].split()[1]) for x in result["lines"])
    assert b == a + 1
    everything = await berth.request("berth/logs", {"slug": "feat-logs", "tail": None, "since": "1h"})
    assert {x["service"] for x in everything["lines"]} == {"web", "worker"}
    assert notes == [], "no notifications without follow"


async def test_unknown_slug_service_and_since_are_berth_errors(
    client: tuple[BerthClient, list[dict[str, Any]]],
) -> None:
    berth, _ = client
    for params, code in (
        ({"slug": "nope"}, "SESSION_NOT_FOUND"),
        ({"slug": "feat-logs", "services": ["db"]}, "UNKNOWN_SERVICE"),
        ({"slug": "feat-logs", "since": "yesterday"}, "INVALID_ARGUMENT"),
        ({"slug": "nope", "follow": True}, "SESSION_NOT_FOUND"),
    ):
        with pytest.raises(JsonRpcException) as info:
            await berth.request("berth/logs", params)
        assert info.value.data["code"] == code  # type: ignore[index]


async def test_follow_streams_until_the_client_cancels(
    client: tuple[BerthClient, list[dict[str, Any]]],
) -> None:
    berth, notes = client
    pending = asyncio.ensure_future(
        berth.request(
            "berth/logs",
            {"slug": "feat-logs", "services": ["web"], "tail": 1, "follow": True},
            msg_id="logs-1",
        )
    )
    await wait_until(lambda: len(notes) >= 5, what="five berth/logLine notifications")
    assert {n["token"] for n in notes} == {"logs-1"}, "tied to the request by its id"
    numbers = [int(n["text"].split()[1]) for n in notes]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))

    berth.lsp.cancel_request(types.CancelParams(id="logs-1"))
    result = await asyncio.wait_for(pending, 10)
    assert result["ended"] == "cancelled" and result["lines"] == []
    assert "cancelled" in result["message"] and result["skipped"] == 0
    count = len(notes)
    await asyncio.sleep(0.5)  # the service keeps printing: nothing more may arrive
    assert len(notes) == count, "no berth/logLine after the request ended"
    status = await berth.request("berth/status", {"slug": "feat-logs"})
    assert status["sessions"][0]["status"] == "active"


async def test_follow_ends_with_a_result_when_the_session_goes_down(
    client: tuple[BerthClient, list[dict[str, Any]]],
) -> None:
    berth, notes = client
    pending = asyncio.ensure_future(
        berth.request("berth/logs", {"slug": "feat-logs", "tail": 0, "follow": True, "token": "tok-7"})
    )
    await wait_until(
        lambda: {n["service"] for n in notes} == {"web", "worker"}, what="lines of both services"
    )
    receipt = await berth.request("berth/down", {"slug": "feat-logs"})
    assert receipt["status"] == "removed"
    result = await asyncio.wait_for(pending, 10)
    assert result["ended"] == "sessionDown" and "went down" in result["message"]
    assert {n["token"] for n in notes} == {"tok-7"}, "tied to the request by the token it gave"


SPAM_LINES = 200_000


def test_a_client_that_does_not_read_gets_a_skipped_marker_and_the_server_stays_bounded(
    make_repo: RepoFactory, tmp_path: Path
) -> None:
    spam = f'i=0; while [ $i -lt {SPAM_LINES} ]; do i=$((i+1)); echo "spam $i"; done; exec sleep 600'
    repo = make_repo(host_logs_toml(logs_port_base(), {"spam": "sleep 1; " + spam}))
    engine = Engine(Workspace(repo))
    engine.up(UpRequest(branch="feat/spam"))
    server, port, token = start_tcp_server(tmp_path)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: the server must hold back
    try:
        sock.connect(("127.0.0.1", port))
        conn = RawConnection(sock.fileno(), sock.sendall)
        params = {
            "processId": None,
            "rootUri": repo.as_uri(),
            "capabilities": {},
            "initializationOptions": {"token": token},
        }
        conn.send({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params})
        assert "result" in conn.response_to(0)
        conn.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
        follow = {"slug": "feat-spam", "tail": None, "follow": True, "token": "slow"}
        conn.send({"jsonrpc": "2.0", "id": 1, "method": "berth/logs", "params": follow})

        log = repo / ".berth" / "logs" / "feat-spam" / "spam.log"
        wait_until_sync(
            lambda: log.exists() and log.read_bytes().count(b"\n") >= SPAM_LINES,
            timeout=120,
            interval=0.2,
            what="the spammer to finish",
        )
        rss = psutil.Process(server.pid).memory_info().rss

        notes: list[dict[str, Any]] = []
        with contextlib.suppress(TimeoutError):
            while True:  # now read: what the server had buffered, then what waited in its queue
                message = conn.receive(timeout=3)
                if message.get("method") == "berth/logLine":
                    notes.append(message["params"])
        conn.send({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": 1}})
        result = conn.response_to(1)["result"]
        markers = [n for n in notes if n.get("skipped")]
        delivered = [n for n in notes if not n.get("skipped")]
        # On a loaded machine the server's file reader may itself fall behind the spammer; then the
        # lines wait in the file (not in memory) and nothing needs skipping. Either way the bound holds.
        assert markers or len(delivered) == SPAM_LINES, "lines were dropped without the client being told"
        assert all(m["service"] == "" and "lines skipped" in m["text"] for m in markers)
        assert result["ended"] == "cancelled" and result["skipped"] == sum(m["skipped"] for m in markers)
        assert len(delivered) + result["skipped"] == SPAM_LINES, "every line delivered or counted"
        numbers = [int(n["text"].split()[1]) for n in delivered]
        assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers), "in order, none twice"
        print(
            json.dumps(
                {
                    "produced": SPAM_LINES,
                    "delivered": len(delivered),
                    "skipped": result["skipped"],
                    "markers": len(markers),
                    "server_rss_mib": round(rss / 2**20, 1),
                }
            )
        )
        assert rss < 200 * 2**20, "the server did not buffer the backlog"
    finally:
        sock.close()
        stop_process_group(server)
        engine.down(DownRequest(slug="feat-spam"))

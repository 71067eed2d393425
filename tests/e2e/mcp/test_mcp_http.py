"""`berth mcp --http`: streamable HTTP on loopback, every request with the bearer token from the
token file (mode 0600), a request without it refused with 401; the same tools as over stdio."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from e2e.mcp.conftest import BERTH_MCP, call_ok
from waiting import wait_until
from world import assert_nothing_left

LISTENING = re.compile(r"listening on (http://\S+/mcp)")


def _start(repo: Path, token_file: Path) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        [*BERTH_MCP, "--http", "127.0.0.1:0", "--token-file", str(token_file)],
        cwd=repo,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert server.stderr is not None
    line = wait_until(server.stderr.readline, timeout=30, what="berth mcp --http to say where it listens")
    found = LISTENING.search(line)
    assert found, line
    return server, found.group(1)


def _post_without_token(url: str) -> tuple[int, str]:
    request = urllib.request.Request(
        url,
        data=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json, text/event-stream"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


async def test_http_needs_the_token_and_serves_the_tools(mcp_repo: Path, tmp_path: Path) -> None:
    token_file = tmp_path / "run" / "mcp.token"
    server, url = _start(mcp_repo, token_file)
    try:
        assert token_file.stat().st_mode & 0o777 == 0o600, "only the user can read the token"
        token = token_file.read_text().strip()
        status, body = _post_without_token(url)
        assert status == 401 and "AUTH_FAILED" in body

        http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
        async with http, Client(streamable_http_client(url, http_client=http)) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert {"berth_up", "berth_down", "berth_status", "berth_list"} <= names
            session = await call_ok(client, "berth_up", {"branch": "feat/http"})
            assert session["slug"] == "feat-http" and session["status"] == "active"
            listed = await call_ok(client, "berth_list", {})
            assert [s["slug"] for s in listed["sessions"]] == ["feat-http"]
            await call_ok(client, "berth_down", {"slug": "feat-http"})
        assert_nothing_left(mcp_repo, "feat-http")
        assert server.poll() is None, "the server keeps serving after a client leaves"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_http_refuses_a_non_loopback_address(mcp_repo: Path, tmp_path: Path) -> None:
    res = subprocess.run(
        [*BERTH_MCP, "--http", "0.0.0.0:8766", "--token-file", str(tmp_path / "t")],
        cwd=mcp_repo,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode != 0 and res.stdout == ""
    assert "only loopback is allowed" in res.stderr and "INVALID_ARGUMENT" in res.stderr
    assert not (tmp_path / "t").exists(), "no token written for a listener that never started"

"""A real `berth serve` subprocess and a pytest-lsp client, over stdio or TCP."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from lsprotocol import types
from pytest_lsp import LanguageClient
from pytest_lsp.client import register_lsp_features

from berth.frontends.rpc.glue import converter_factory
from conftest import RepoFactory
from e2e.host_config import host_toml
from waiting import wait_until_async

SERVE = [sys.executable, "-m", "berth", "serve"]


@dataclass
class BerthClient:
    """The pytest-lsp client plus what the server sent us."""

    lsp: LanguageClient
    repo: Path
    rollbacks: list[dict[str, Any]] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)
    initialize_result: types.InitializeResult | None = None

    async def request(self, method: str, params: Any, msg_id: str | None = None) -> Any:
        return await self.lsp.protocol.send_request_async(method, params, msg_id=msg_id)

    def progress_kinds(self, token: str) -> list[str]:
        return [p.kind for p in self.lsp.progress_reports.get(token, [])]  # type: ignore[union-attr]


def make_client(record: BerthClient | None = None) -> LanguageClient:
    client = LanguageClient(converter_factory=converter_factory)
    register_lsp_features(client)
    return client


async def wait_until(
    predicate: Callable[[], object], *, timeout: float = 30, what: str = "condition"
) -> None:
    """waiting.wait_until_async with the RPC tests' default of 30 s."""
    await wait_until_async(predicate, timeout=timeout, what=what)


def start_tcp_server(tmp_path: Path) -> tuple[subprocess.Popen[str], int, str]:
    token_file = tmp_path / "token"
    proc = subprocess.Popen(
        [*SERVE, "--tcp", "127.0.0.1:0", "--token-file", str(token_file)],
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()
    match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
    assert match, f"unexpected start-up line: {line!r}"
    assert oct(token_file.stat().st_mode & 0o777) == "0o600", "the token file is readable only by the user"
    return proc, int(match.group(1)), token_file.read_text().strip()


def stop_process_group(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


async def connect(
    transport: str,
    repo: Path,
    tmp_path: Path,
    *,
    progress: bool = True,
    token: str | None = None,
    port: int | None = None,
) -> BerthClient:
    lsp = make_client()
    client = BerthClient(lsp, repo)
    lsp.feature("berth/rollback")(lambda params: client.rollbacks.append(params))
    lsp.feature("berth/sessionChanged")(lambda params: client.changes.append(params))
    options: dict[str, Any] | None = None
    if transport == "stdio":
        await lsp.start_io(*SERVE)
    else:
        assert port is not None
        await lsp.start_tcp("127.0.0.1", port)
        options = {"token": token}
    caps = types.ClientCapabilities(window=types.WindowClientCapabilities(work_done_progress=progress))
    client.initialize_result = await lsp.initialize_session(
        types.InitializeParams(
            capabilities=caps,
            root_uri=repo.as_uri(),
            initialization_options=options,
            workspace_folders=[types.WorkspaceFolder(uri=repo.as_uri(), name="repo")],
        )
    )
    return client


@pytest.fixture
def rpc_repo(make_repo: RepoFactory, port_base: int) -> Path:
    return make_repo(host_toml(port_base))


@pytest_asyncio.fixture(params=["stdio", "tcp"])
async def berth(request: pytest.FixtureRequest, rpc_repo: Path, tmp_path: Path) -> AsyncIterator[BerthClient]:
    """A connected client over each transport; the same tests run over both."""
    server: subprocess.Popen[str] | None = None
    if request.param == "tcp":
        server, port, token = start_tcp_server(tmp_path)
        client = await connect("tcp", rpc_repo, tmp_path, token=token, port=port)
    else:
        client = await connect("stdio", rpc_repo, tmp_path)
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.lsp.shutdown_session(), 30)
        await client.lsp.stop()
        if server is not None:
            stop_process_group(server)

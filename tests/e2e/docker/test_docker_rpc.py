"""A failing docker bring-up over JSON-RPC (`berth serve` on stdio): progress, then rollback
notifications, in order, and compose's own events as log messages."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

from conftest import RepoFactory
from e2e.docker.docker_world import (
    berth_toml,
    compose_file,
    data_service,
    docker_service,
    labelled,
    session_files,
)
from e2e.rpc.conftest import SERVE, make_client
from world import assert_nothing_left

pytestmark = pytest.mark.docker
TOKEN = "docker-up"
BROKEN = (
    "services:\n  broken:\n    image: berth-test/busybox:1\n    pull_policy: never\n"
    '    command: ["sh", "-c", "exit 3"]\n'
)


@pytest_asyncio.fixture
async def client(
    make_repo: RepoFactory, port_base: int
) -> AsyncIterator[tuple[LanguageClient, Path, list[Any]]]:
    services = docker_service("data", port_base) + docker_service(
        "broken", port_base + 50, compose="infra/compose.yml"
    )
    repo = make_repo(
        berth_toml("container", f"bt{port_base}", services=services),
        files={
            "compose.yml": compose_file(data_service(), volumes=["data-volume"]),
            "infra/compose.yml": BROKEN,
        },
    )
    lsp = make_client()
    timeline: list[Any] = []
    # each rollback notification records how many progress notifications had arrived before it
    lsp.feature("berth/rollback")(
        lambda p: timeline.append((p["kind"], p["state"], len(lsp.progress_reports.get(TOKEN, []))))
    )
    lsp.feature("berth/sessionChanged")(lambda p: None)
    await lsp.start_io(*SERVE)
    caps = types.ClientCapabilities(window=types.WindowClientCapabilities(work_done_progress=True))
    await lsp.initialize_session(
        types.InitializeParams(
            capabilities=caps,
            root_uri=repo.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=repo.as_uri(), name="repo")],
        )
    )
    try:
        yield lsp, repo, timeline
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(lsp.shutdown_session(), 30)
        await lsp.stop()


async def test_failing_docker_up_reports_progress_then_rollback_in_order(
    client: tuple[LanguageClient, Path, list[Any]], port_base: int
) -> None:
    lsp, repo, timeline = client
    lsp.progress_reports[TOKEN] = []
    with pytest.raises(JsonRpcException) as info:
        await lsp.protocol.send_request_async(
            "berth/up", {"branch": "feat/rpc-docker", "workDoneToken": TOKEN}
        )
    assert info.value.data["code"] == "COMPOSE_FAILED"  # type: ignore[index]

    reports = lsp.progress_reports[TOKEN]
    assert reports[0].kind == "begin" and reports[-1].kind == "end"  # type: ignore[attr-defined]
    steps = [r.message.split(": ", 1)[1] for r in reports[1:-1]]  # type: ignore[attr-defined]
    assert steps == [
        "reserve slot (1/10)",
        "pre_up hook (2/10)",
        "create worktree (3/10)",
        "inherit env files (4/10)",
        "read compose files (5/10)",
        "allocate ports (6/10)",
        "write .env.berth (7/10)",
        "start containers (8/10)",
    ]
    expected = [
        "compose_down",  # the failed group (infra/compose.yml), newest first
        "restore_file",  # its session compose file, once its containers are down
        "compose_down",  # the group that came up
        "restore_file",
        "restore_file",  # .env.berth
        "release_leases",
        "remove_worktree",
        "forget_session",
    ]
    assert [(kind, state) for kind, state, _ in timeline] == [
        (kind, state) for kind in expected for state in ("undoing", "undone")
    ]
    assert {seen for *_, seen in timeline} == {1 + len(steps)}, "rollback starts after the last step report"
    logs = [m.message for m in lsp.log_messages]
    healthy = next(i for i, line in enumerate(logs) if "data-1 Healthy" in line)
    failed = next(i for i, line in enumerate(logs) if "broken-1 exited (3)" in line)
    assert healthy < failed, "compose's events arrive as log messages, in order"
    project = f"bt{port_base}_feat-rpc-docker"
    assert labelled(project).empty() and session_files(repo) == []
    assert_nothing_left(repo, "feat-rpc-docker", branch_created="feat/rpc-docker")

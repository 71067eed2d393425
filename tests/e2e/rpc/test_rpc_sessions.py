"""berth/up|down|status|list over the protocol, on stdio and TCP, against a real repository."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcRequestCancelled

from conftest import BERTH
from e2e.host_config import host_toml
from e2e.rpc.conftest import BerthClient, wait_until
from world import assert_nothing_left


def reconfigure(client: BerthClient, port_base: int, **hooks: str) -> None:
    (client.repo / "berth.toml").write_text(host_toml(port_base, **hooks))


async def test_initialize_advertises_the_berth_api(berth: BerthClient) -> None:
    result = await berth.lsp.protocol.send_request_async("berth/list", {})
    assert result == {"sessions": []}
    assert berth.initialize_result is not None
    assert (
        berth.initialize_result.server_info is not None
        and berth.initialize_result.server_info.name == "berth"
    )
    experimental = berth.initialize_result.capabilities.experimental
    assert experimental is not None and experimental["berth"]["protocolVersion"] == 2  # type: ignore[index]
    assert set(experimental["berth"]["methods"]) >= {"berth/up", "berth/checkBranch"}  # type: ignore[index]


async def test_up_reports_progress_then_down(berth: BerthClient) -> None:
    berth.lsp.progress_reports["up-1"] = []
    session = await berth.request("berth/up", {"branch": "feat/rpc", "workDoneToken": "up-1"})
    assert session["slug"] == "feat-rpc" and session["status"] == "active"
    assert Path(session["worktreePath"]).is_dir()
    kinds = berth.progress_kinds("up-1")
    assert kinds[0] == "begin" and kinds[-1] == "end" and kinds.count("report") == 10
    messages = [p.message for p in berth.lsp.progress_reports["up-1"][1:-1]]  # type: ignore[union-attr]
    assert messages[0].startswith("feat-rpc: reserve slot (1/10)")
    assert messages[-1].startswith("feat-rpc: post_up hook (10/10)")

    status = await berth.request("berth/status", {"slug": "feat-rpc"})
    assert {s["state"] for s in status["sessions"][0]["services"]} == {"running"}
    receipt = await berth.request("berth/down", {"slug": "feat-rpc"})
    assert {r["kind"] for r in receipt["removed"]} >= {"worktree", "process", "session"}
    await wait_until(
        lambda: any(c["status"] == "removed" for c in berth.changes), what="sessionChanged removed"
    )
    assert_nothing_left(berth.repo, "feat-rpc")


async def test_server_created_progress_token(berth: BerthClient) -> None:
    await berth.request("berth/up", {"branch": "auto-token"})
    (token,) = berth.lsp.progress_reports
    assert berth.progress_kinds(token)[0] == "begin" and berth.progress_kinds(token)[-1] == "end"
    await berth.request("berth/down", {"slug": "auto-token"})


async def test_failing_post_up_sends_rollback_notifications_in_order(
    berth: BerthClient, port_base: int
) -> None:
    reconfigure(berth, port_base, post_up="echo cannot migrate >&2; exit 4")
    with pytest.raises(JsonRpcException) as info:
        await berth.request("berth/up", {"branch": "broken"})
    assert info.value.code == 1013
    assert info.value.data["code"] == "HOOK_FAILED" and info.value.data["hint"]  # type: ignore[index]
    done = [(r["kind"], r["state"]) for r in berth.rollbacks if r["state"] != "undoing"]
    assert done == [
        ("kill_processes", "undone"),  # the post_up hook's processes
        ("kill_processes", "undone"),  # service api
        ("kill_processes", "undone"),  # service web
        ("restore_file", "undone"),
        ("remove_worktree", "undone"),
        ("release_leases", "undone"),
        ("forget_session", "undone"),
    ]
    states = [r["state"] for r in berth.rollbacks]
    assert states == ["undoing", "undone"] * 7, "each step is announced, then confirmed"
    assert {r["slug"] for r in berth.rollbacks} == {"broken"}
    assert len({r["opId"] for r in berth.rollbacks}) == 1
    assert_nothing_left(berth.repo, "broken", branch_created="broken")


async def test_cancel_during_slow_pre_spawn_rolls_back(
    berth: BerthClient, port_base: int, tmp_path: Path
) -> None:
    flag = tmp_path / "hook-running"
    reconfigure(berth, port_base, pre_spawn=f"touch {flag}; exec sleep 120")
    request = asyncio.ensure_future(berth.request("berth/up", {"branch": "slow"}, msg_id="up-slow"))
    await wait_until(flag.exists, what="the pre_spawn hook to start")
    berth.lsp.cancel_request(types.CancelParams(id="up-slow"))
    with pytest.raises(JsonRpcRequestCancelled):
        # the hook sleeps 120 s: an answer well before means cancellation stopped it
        await asyncio.wait_for(request, timeout=60)
    assert [r["kind"] for r in berth.rollbacks if r["state"] == "undone"][-1] == "forget_session"
    assert_nothing_left(berth.repo, "slow", branch_created="slow")


async def test_second_request_for_a_busy_slug(berth: BerthClient, port_base: int, tmp_path: Path) -> None:
    flag, release = tmp_path / "in-hook", tmp_path / "release"
    reconfigure(berth, port_base, pre_spawn=f"touch {flag}; while [ ! -e {release} ]; do sleep 0.05; done")
    first = asyncio.ensure_future(berth.request("berth/up", {"branch": "busy"}))
    await wait_until(flag.exists, what="the first up to reach its hook")
    for method, params in (("berth/up", {"branch": "busy"}), ("berth/down", {"slug": "busy"})):
        with pytest.raises(JsonRpcException) as info:
            await berth.request(method, params)
        assert info.value.data["code"] == "SESSION_BUSY"  # type: ignore[index]
    listed = await berth.request("berth/list", {})
    assert listed["sessions"][0]["busy"] is True
    release.touch()
    assert (await first)["status"] == "active"
    await berth.request("berth/down", {"slug": "busy"})


async def test_concurrent_ups_and_status_while_they_run(
    berth: BerthClient, port_base: int, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    reconfigure(berth, port_base, pre_spawn=f"while [ ! -e {release} ]; do sleep 0.05; done")
    ups = [asyncio.ensure_future(berth.request("berth/up", {"branch": name})) for name in ("one", "two")]
    await wait_until(
        lambda: len([c for c in berth.changes if c["status"] == "pending"]) >= 2, what="both sessions pending"
    )
    # the ups wait for `release` until told: status must answer without waiting for them
    status = await asyncio.wait_for(berth.request("berth/status", {}), timeout=30)
    assert {s["slug"] for s in status["sessions"]} == {"one", "two"}
    release.touch()
    sessions = await asyncio.gather(*ups)
    assert {s["slot"] for s in sessions} == {1, 2}
    assert sessions[0]["ports"]["web"] != sessions[1]["ports"]["web"]
    for s in sessions:
        await berth.request("berth/down", {"slug": s["slug"]})


async def test_session_changed_after_a_cli_down_from_another_process(berth: BerthClient) -> None:
    await berth.request("berth/up", {"branch": "shared"})
    berth.changes.clear()
    cli = await asyncio.to_thread(
        subprocess.run, [*BERTH, "down", "shared"], cwd=berth.repo, capture_output=True, text=True, timeout=60
    )
    assert cli.returncode == 0, cli.stderr
    await wait_until(
        lambda: any(c["slug"] == "shared" and c["status"] == "removed" for c in berth.changes),
        timeout=5,  # the watcher looks about once a second
        what="sessionChanged after the CLI down",
    )

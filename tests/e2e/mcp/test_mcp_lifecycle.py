"""The whole life of a real host-mode session through MCP tools: up, status, logs, exec, env, down."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import psutil
from mcp import Client

from e2e.mcp.conftest import Recorder, call_ok, in_memory, over_stdio, text
from waiting import wait_until
from world import assert_nothing_left, registered_worktrees


async def _lifecycle(client: Client, repo: Path, recorder: Recorder) -> None:
    session = await call_ok(
        client, "berth_up", {"branch": "feat/mcp"}, progress_callback=recorder.on_progress
    )
    assert session["slug"] == "feat-mcp" and session["status"] == "active"
    worktree = Path(session["worktreePath"])
    assert worktree in registered_worktrees(repo)
    web = session["ports"]["web"]
    with urllib.request.urlopen(f"http://127.0.0.1:{web}/", timeout=10) as answer:
        assert answer.status == 200

    listed = await call_ok(client, "berth_list", {})
    assert [s["slug"] for s in listed["sessions"]] == ["feat-mcp"]
    status = await call_ok(client, "berth_status", {"slug": "feat-mcp"})
    states = {s["name"]: s["state"] for s in status["sessions"][0]["services"]}
    assert states == {"web": "running", "api": "running"}

    await call_ok(
        client,
        "berth_exec",
        {
            "slug": "feat-mcp",
            "argv": [
                "python3",
                "-c",
                "import urllib.request as u; u.urlopen('http://127.0.0.1:%d/' % " + str(web) + ")",
            ],
        },
    )
    logs = await call_ok(client, "berth_logs", {"slug": "feat-mcp", "services": ["web"], "tail": 20})
    assert any('"GET / HTTP/1.1" 200' in line["text"] for line in logs["lines"]), logs

    ran = await call_ok(
        client,
        "berth_exec",
        {"slug": "feat-mcp", "argv": ["sh", "-c", "echo $BERTH_WEB_PORT; pwd; echo oops >&2; exit 4"]},
    )
    assert ran["exitCode"] == 4
    assert ran["stdout"].splitlines() == [str(web), str(worktree)]
    assert ran["stderr"] == "oops\n" and not ran["timedOut"] and not ran["stdoutTruncated"]

    env = await call_ok(client, "berth_env", {"slug": "feat-mcp"})
    assert env["variables"]["BERTH_WEB_PORT"] == str(web) and env["worktreePath"] == str(worktree)

    plan = await call_ok(client, "berth_down", {"slug": "feat-mcp", "dryRun": True})
    assert plan["dryRun"] is True and plan["status"] == "removed"
    assert worktree.is_dir(), "a dry run changes nothing"

    result = await client.call_tool("berth_down", {"slug": "feat-mcp"})
    assert not result.is_error, text(result)
    assert result.structured_content is not None and result.structured_content["status"] == "removed"
    assert "removed" in text(result)
    assert_nothing_left(repo, "feat-mcp")


async def test_lifecycle_in_memory(mcp_repo: Path, recorder: Recorder) -> None:
    async with in_memory(mcp_repo, recorder) as client:
        await _lifecycle(client, mcp_repo, recorder)


async def test_lifecycle_over_stdio(mcp_repo: Path, recorder: Recorder) -> None:
    async with over_stdio(mcp_repo, recorder) as client:
        await _lifecycle(client, mcp_repo, recorder)


async def test_up_summary_names_ports_urls_and_worktree(mcp_repo: Path, recorder: Recorder) -> None:
    async with in_memory(mcp_repo, recorder) as client:
        result = await client.call_tool("berth_up", {"branch": "summary"})
        await call_ok(client, "berth_down", {"slug": "summary"})
    session = result.structured_content
    assert session is not None, text(result)
    summary = text(result)
    assert session["worktreePath"] in summary
    assert f"http://127.0.0.1:{session['ports']['web']}" in summary


async def test_exec_timeout_kills_the_process_group(
    mcp_repo: Path, recorder: Recorder, tmp_path: Path
) -> None:
    pid_file = tmp_path / "child.pid"
    async with in_memory(mcp_repo, recorder) as client:
        await call_ok(client, "berth_up", {"branch": "slowexec"})
        argv = ["sh", "-c", f"sleep 60 & echo $! > {pid_file}; wait"]
        ran = await call_ok(client, "berth_exec", {"slug": "slowexec", "argv": argv, "timeoutSeconds": 0.5})
        assert ran["timedOut"] is True and ran["exitCode"] == 128 + 15
        child = int(pid_file.read_text())
        wait_until(lambda: not _alive(child), timeout=10, what="the command's background child to be killed")
        await call_ok(client, "berth_down", {"slug": "slowexec"})


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False

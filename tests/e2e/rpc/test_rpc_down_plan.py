"""berth/down with dryRun over the protocol (stdio and TCP), ports 44000-44999: the answer is the
DownPlan, no progress and no session change is sent, and nothing changes."""

from __future__ import annotations

import subprocess

import pytest

from e2e.outsiders import free_block
from e2e.rpc.conftest import BerthClient, wait_until
from world import assert_nothing_left, db_rows


@pytest.fixture
def port_base() -> int:
    """Overrides the shared fixture: this file's sessions live in 44000-44999."""
    return free_block(70)


async def test_down_dry_run_answers_the_plan_and_changes_nothing(berth: BerthClient) -> None:
    session = await berth.request("berth/up", {"branch": "feat/rpc-plan"})
    worktree = session["worktreePath"]
    (berth.repo / ".berth" / "worktrees" / "feat-rpc-plan" / "scratch.txt").write_text("work\n")
    await wait_until(
        lambda: any(c["status"] == "active" for c in berth.changes), what="sessionChanged active"
    )
    rows = [db_rows(berth.repo, t) for t in ("sessions", "leases", "operations", "journal")]
    changes = len(berth.changes)
    berth.lsp.progress_reports.clear()

    plan = await berth.request("berth/down", {"slug": "feat-rpc-plan", "dryRun": True, "workDoneToken": "p"})

    assert plan["dryRun"] is True and plan["status"] == "stopped"
    assert [b["kind"] for b in plan["blockers"]] == ["uncommittedChanges"]
    assert plan["blockers"][0]["items"] == ["scratch.txt"]
    assert {"kind": "process", "name": f"web (pid {session['services'][0]['pid']})"} in plan["remove"]
    assert [k["kind"] for k in plan["keep"] if k["name"] == worktree] == ["worktree"]
    assert [db_rows(berth.repo, t) for t in ("sessions", "leases", "operations", "journal")] == rows
    assert berth.lsp.progress_reports == {} and len(berth.changes) == changes
    status = await berth.request("berth/status", {"slug": "feat-rpc-plan"})
    assert {s["state"] for s in status["sessions"][0]["services"]} == {"running"}

    forced = await berth.request("berth/down", {"slug": "feat-rpc-plan", "dryRun": True, "force": True})
    assert forced["status"] == "removed"
    receipt = await berth.request("berth/down", {"slug": "feat-rpc-plan", "force": True})
    assert "dryRun" not in receipt and receipt["status"] == "removed"
    assert subprocess.run(
        ["git", "branch", "--list", "feat/rpc-plan"], cwd=berth.repo, capture_output=True, text=True
    ).stdout
    assert_nothing_left(berth.repo, "feat-rpc-plan")

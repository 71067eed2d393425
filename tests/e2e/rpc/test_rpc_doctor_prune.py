"""berth/doctor and berth/prune over the protocol (stdio and TCP), on a real repository."""

from __future__ import annotations

import pytest

from e2e.maintenance_world import alive, free_block, reap, start_marked_process
from e2e.rpc.conftest import BerthClient
from waiting import wait_until_async


@pytest.fixture
def port_base() -> int:
    return free_block()


async def test_doctor_reports_every_check(berth: BerthClient) -> None:
    await berth.request("berth/up", {"branch": "feat/doc"})
    report = await berth.request("berth/doctor", {})
    assert report["healthy"] is True and report["root"] == str(berth.repo.resolve())
    by_id = {c["id"]: c for c in report["checks"]}
    assert by_id["git"]["required"] is True and by_id["state"]["status"] == "ok"
    assert {c["status"] for c in report["checks"]} == {"ok"}
    assert report["summary"]["ok"] == len(report["checks"])
    await berth.request("berth/down", {"slug": "feat-doc"})


async def test_prune_plan_then_apply(berth: BerthClient) -> None:
    root = berth.repo.resolve()
    ghost = start_marked_process(root, "ghost", berth.repo)
    try:
        plan = await berth.request("berth/prune", {"dryRun": True})
        assert plan["dryRun"] is True and plan["removed"] == []
        assert [(i["kind"], i["name"].split(" ")[1]) for i in plan["plan"]] == [("process", str(ghost.pid))]
        assert alive(ghost), "a dry run changes nothing"

        receipt = await berth.request("berth/prune", {})
        assert receipt["dryRun"] is False and receipt["residueFree"] is True
        assert [i["kind"] for i in receipt["removed"]] == ["process"]
        await wait_until_async(lambda: not alive(ghost), timeout=10, what="the marked process to end")
        again = await berth.request("berth/prune", {"dryRun": True})
        assert again["plan"] == []
    finally:
        reap(ghost)

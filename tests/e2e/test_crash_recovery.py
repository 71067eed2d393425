"""kill -9 of `berth up` in the middle of provisioning, then `berth recover`: nothing is left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import BERTH, RepoFactory
from e2e.host_config import host_toml
from waiting import wait_until
from world import assert_nothing_left, berth_processes, db_rows


def wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 30) -> None:
    def reached() -> bool:
        if path.exists():
            return True
        assert proc.poll() is None, f"berth up ended early: {proc.stderr.read() if proc.stderr else ''}"
        return False

    wait_until(reached, timeout=timeout, what=f"{path} to appear")


def up_killed_at(repo: Path, branch: str, flag: Path) -> None:
    """Start `berth up`, wait until it reaches the step that creates `flag`, then kill -9 it."""
    up = subprocess.Popen(
        [*BERTH, "up", branch], cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    wait_for(flag, up)
    os.kill(up.pid, signal.SIGKILL)
    up.wait()


@pytest.mark.parametrize("where", ["pre_spawn hook", "service start-up"])
def test_kill_9_mid_up_then_recover(
    make_repo: RepoFactory, port_base: int, tmp_path: Path, where: str
) -> None:
    flag = tmp_path / "reached"
    if where == "pre_spawn hook":
        repo = make_repo(host_toml(port_base, pre_spawn=f"touch {flag}; exec sleep 300"))
    else:
        repo = make_repo(host_toml(port_base, web_command=f"touch {flag}; exec sleep 300", timeout=300))
    up = subprocess.Popen(
        [*BERTH, "up", "feat/crash"], cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    wait_for(flag, up)
    assert berth_processes(repo), "a hook or service process is running when berth dies"
    os.kill(up.pid, signal.SIGKILL)
    up.wait()
    assert db_rows(repo, "sessions"), "the crash left the pending session behind"

    recover = subprocess.run(
        [*BERTH, "recover", "--json"], cwd=repo, capture_output=True, text=True, timeout=60
    )
    assert recover.returncode == 0, recover.stderr
    report = json.loads(recover.stdout)
    assert len(report["operations"]) == 1 and report["remaining"] == 0
    assert {u["state"] for u in report["undone"]} == {"undone"}
    assert_nothing_left(repo, "feat-crash", branch_created="feat/crash")


def test_next_up_of_the_slug_recovers_automatically(
    make_repo: RepoFactory, port_base: int, tmp_path: Path
) -> None:
    flag = tmp_path / "reached"
    hook = f"if [ ! -e {flag} ]; then touch {flag}; exec sleep 300; fi"
    repo = make_repo(host_toml(port_base, pre_spawn=hook))
    up_killed_at(repo, "again", flag)
    second = subprocess.run(
        [*BERTH, "up", "again", "--json"], cwd=repo, capture_output=True, text=True, timeout=60
    )
    assert second.returncode == 0, second.stdout + second.stderr
    assert json.loads(second.stdout)["status"] == "active"
    assert len(berth_processes(repo)) == 2, "only the two services of the new bring-up run"
    subprocess.run([*BERTH, "down", "again"], cwd=repo, check=True, capture_output=True)
    assert_nothing_left(repo, "again")


def test_down_of_a_crashed_up_cleans_it(make_repo: RepoFactory, port_base: int, tmp_path: Path) -> None:
    flag = tmp_path / "reached"
    repo = make_repo(host_toml(port_base, pre_spawn=f"touch {flag}; exec sleep 300"))
    up_killed_at(repo, "crashed", flag)
    down = subprocess.run(
        [*BERTH, "down", "crashed", "--json"], cwd=repo, capture_output=True, text=True, timeout=60
    )
    assert down.returncode == 0, down.stdout + down.stderr
    receipt = json.loads(down.stdout)
    assert any(r["kind"] == "interrupted operation" and "worktree" in r["name"] for r in receipt["removed"])
    assert_nothing_left(repo, "crashed", branch_created="crashed")

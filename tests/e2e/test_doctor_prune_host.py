"""`berth doctor` and `berth prune` on real leftovers made the way crashes make them: a `berth up`
killed with SIGKILL, a worktree deleted with rm -rf, a lost state file, a service killed, a marked
process nobody owns, stray worktrees, a lease without a session. Host mode; ports 43000-43999."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
from pathlib import Path

import psutil
import pytest

from conftest import RepoFactory
from e2e.host_config import host_toml
from e2e.maintenance_world import (
    alive,
    berth,
    checks,
    doctor,
    free_block,
    kill_9_mid_up,
    reap,
    start_marked_process,
)
from waiting import wait_until
from world import berth_processes, db_rows, registered_worktrees


@pytest.fixture
def port_base() -> int:
    return free_block()


def test_doctor_on_a_healthy_setup(make_repo: RepoFactory, port_base: int) -> None:
    repo = make_repo(host_toml(port_base))
    assert berth("up", "feat/ok", cwd=repo).returncode == 0

    code, report = doctor(repo)
    assert code == 0 and report["healthy"] is True
    found = checks(report)
    assert {c["status"] for c in found.values()} == {"ok"}, [c for c in found.values() if c["status"] != "ok"]
    assert {
        "git",
        "repository",
        "config",
        "state",
        "operations",
        "worktrees-missing",
        "services",
        "ports",
    } <= set(found)
    assert {"engine-leftovers", "stray-worktrees", "processes", "leases"} <= set(found)
    assert found["git"]["detail"].startswith("git 2.") and found["git"]["required"] is True
    assert "integrity ok, 1 session(s)" in found["state"]["detail"]
    assert report["summary"] == {"ok": len(found), "warn": 0, "error": 0}

    human = berth("doctor", cwd=repo)
    assert human.returncode == 0
    assert f"{len(found)} checks: {len(found)} ok, 0 warn, 0 error" in human.stdout
    assert "healthy" in human.stdout.splitlines()[-1]


def test_doctor_on_a_broken_berth_toml(make_repo: RepoFactory, port_base: int) -> None:
    repo = make_repo(host_toml(port_base))
    (repo / "berth.toml").write_text('mode = "sideways"\nmax_slots = 0\n')

    code, report = doctor(repo)

    assert code == 1 and report["healthy"] is False
    config = checks(report)["config"]
    assert config["status"] == "error" and config["required"] is True
    assert "CONFIG" not in config["detail"] and "is invalid (2 problems)" in config["detail"]
    assert any(item.startswith("mode") for item in config["items"])
    assert any(item.startswith("max_slots") for item in config["items"])
    assert checks(report)["git"]["status"] == "ok", "the other checks still run"
    human = berth("doctor", cwd=repo)
    assert human.returncode == 1 and "ERROR berth.toml is valid" in human.stdout


def test_doctor_outside_a_repository(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    code, report = doctor(tmp_path / "plain")
    assert code == 1 and "root" not in report
    assert checks(report)["repository"]["status"] == "error"


def test_doctor_finds_and_prune_removes_what_crashes_left(
    make_repo: RepoFactory, port_base: int, tmp_path: Path
) -> None:
    flag = tmp_path / "reached"
    hook = f'if [ "$BERTH_SLUG" = crashed ]; then touch {flag}; exec sleep 300; fi'
    repo = make_repo(host_toml(port_base, pre_spawn=hook))
    root = repo.resolve()
    for branch in ("alive", "dead", "gone"):
        assert berth("up", branch, cwd=repo).returncode == 0
    # a service that died
    dead = json.loads(berth("status", "dead", "--json", cwd=repo).stdout)["sessions"][0]
    os.killpg(next(s["pid"] for s in dead["services"] if s["name"] == "web"), signal.SIGKILL)
    # a bring-up killed with SIGKILL: its journal waits for recovery, its hook's sleep still runs
    kill_9_mid_up(repo, "crashed", flag)
    # a worktree deleted by hand under a live session
    gone_worktree = root / ".berth/worktrees/gone"
    subprocess.run(["rm", "-rf", str(gone_worktree)], check=True)
    # a marked process of this repository that no session owns
    ghost = start_marked_process(root, "ghost", repo)
    # worktrees under worktree_dir that no session owns: clean, dirty, and a plain directory
    subprocess.run(
        ["git", "worktree", "add", "-q", ".berth/worktrees/stray", "-b", "stray"], cwd=repo, check=True
    )
    subprocess.run(
        ["git", "worktree", "add", "-q", ".berth/worktrees/dirty", "-b", "dirty"], cwd=repo, check=True
    )
    (root / ".berth/worktrees/dirty/notes.txt").write_text("my work")
    (root / ".berth/worktrees/junk").mkdir()
    (root / ".berth/worktrees/junk/data").write_text("unknown")
    # a lease whose session row is gone (as an older berth, or a hand-edited state file, leaves it)
    with sqlite3.connect(root / ".berth/state.db") as conn:
        conn.execute(
            "INSERT INTO leases (port, protocol, slug, service, op_id) VALUES (?, 'tcp', 'lost', 'web', NULL)",
            (port_base + 99,),
        )
    try:
        code, report = doctor(repo)
        assert code == 0, "only leftovers and drift: no required check fails"
        found = checks(report)
        assert found["operations"]["status"] == "warn" and "up of crashed" in found["operations"]["items"][0]
        assert found["worktrees-missing"]["items"] == [f"gone: {gone_worktree}"]
        assert [i.split(":")[0] for i in found["services"]["items"]] == ["dead/web"]
        assert (
            found["processes"]["status"] == "warn" and f"pid {ghost.pid} " in found["processes"]["items"][0]
        )
        strays = "\n".join(found["stray-worktrees"]["items"])
        assert (
            "stray: git worktree, clean" in strays
            and "dirty: git worktree with uncommitted changes" in strays
        )
        assert "junk: not a git worktree" in strays
        assert found["leases"]["items"] == [f"{port_base + 99}/tcp lost/web"]

        before = _world(root)
        refused = berth("prune", "--json", cwd=repo)
        assert refused.returncode == 1
        error = json.loads(refused.stdout)["error"]
        assert error["code"] == "CONFIRMATION_REQUIRED" and "--yes" in error["hint"]
        planned = {(i["kind"], i["name"]) for i in error["details"]["plan"]["plan"]}
        assert _world(root) == before and alive(ghost), "a refused prune changes nothing"
        human = berth("prune", cwd=repo)  # stdin is not a terminal: refused, with the plan printed
        assert human.returncode == 1 and "Prune plan for" in human.stdout
        assert "error [CONFIRMATION_REQUIRED]" in human.stderr and "not a terminal" in human.stderr

        dry = berth("prune", "--dry-run", "--json", cwd=repo)
        assert dry.returncode == 0
        plan = json.loads(dry.stdout)
        assert plan["dryRun"] is True and plan["removed"] == []
        assert {(i["kind"], i["name"]) for i in plan["plan"]} == planned
        assert _world(root) == before and alive(ghost), "a dry run changes nothing"
        kinds = {kind for kind, _ in planned}
        assert kinds == {"journal", "session", "process", "worktree", "lease"}
        assert ("session", "gone") in planned and (
            "worktree",
            str(root / ".berth/worktrees/stray"),
        ) in planned
        blockers = {(b["kind"], b["name"]) for b in plan["blockers"]}
        assert blockers == {
            ("worktree", str(root / ".berth/worktrees/dirty")),
            ("directory", str(root / ".berth/worktrees/junk")),
        }

        applied = berth("prune", "--yes", "--json", cwd=repo)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        receipt = json.loads(applied.stdout)
        assert receipt["residueFree"] is True and receipt["left"] == []
        assert {(i["kind"], i["name"]) for i in receipt["removed"]} == planned
    finally:
        reap(ghost)

    # the world, asked directly
    assert not alive(ghost)
    worktrees = set(registered_worktrees(repo))
    assert root / ".berth/worktrees/stray" not in worktrees and not (root / ".berth/worktrees/stray").exists()
    assert (root / ".berth/worktrees/dirty/notes.txt").read_text() == "my work", "a dirty worktree is kept"
    assert (root / ".berth/worktrees/junk/data").read_text() == "unknown", "an unknown directory is kept"
    branches = subprocess.run(
        ["git", "branch", "--list", "stray"], cwd=repo, capture_output=True, text=True
    ).stdout
    assert "stray" in branches, "prune removes a worktree, never its branch"
    sessions = {row[0] for row in db_rows(repo, "sessions")}
    assert sessions == {"alive", "dead"}, "live sessions are untouched; gone and crashed are gone"
    assert db_rows(repo, "operations") == [] and db_rows(repo, "journal") == []
    assert {row[2] for row in db_rows(repo, "leases")} == {"alive", "dead"}
    assert not any("sleep 300" in " ".join(p.cmdline()) for p in berth_processes(repo)), (
        "the hook's sleep is gone"
    )
    alive_view = json.loads(berth("status", "alive", "--json", cwd=repo).stdout)["sessions"][0]
    assert {s["state"] for s in alive_view["services"]} == {"running"}

    code, report = doctor(repo)
    after = {c["id"]: c["status"] for c in report["checks"]}
    assert after["operations"] == after["worktrees-missing"] == after["processes"] == after["leases"] == "ok"
    assert after["services"] == "warn", "a dead service of a live session is for `up`, not prune"
    assert after["stray-worktrees"] == "warn", "the blockers stay reported"


def test_prune_after_the_state_file_was_lost_spares_another_repository(
    make_repo: RepoFactory, port_base: int
) -> None:
    repo = make_repo(host_toml(port_base), name="first")
    other = make_repo(host_toml(port_base + 25), name="second")
    for branch in ("one", "two"):
        assert berth("up", branch, cwd=repo).returncode == 0
    assert berth("up", "theirs", cwd=other).returncode == 0
    ours = berth_processes(repo)
    theirs = berth_processes(other)
    assert len(ours) == 4 and len(theirs) == 2
    for name in ("state.db", "state.db-wal", "state.db-shm"):
        (repo / ".berth" / name).unlink(missing_ok=True)

    code, report = doctor(repo)
    found = checks(report)
    assert code == 0 and "no state file yet" in found["state"]["detail"]
    assert len(found["processes"]["items"]) == 4
    assert len(found["stray-worktrees"]["items"]) == 2
    assert not (repo / ".berth/state.db").exists(), "doctor creates nothing"

    applied = berth("prune", "--yes", cwd=repo)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "nothing planned is left" in applied.stdout
    assert applied.stdout.count("removed process") == 4 and applied.stdout.count("removed worktree") == 2

    wait_until(lambda: not any(alive(p) for p in ours), timeout=10, what="our processes to end")
    assert registered_worktrees(repo) == [repo.resolve()]
    assert all(alive(p) for p in theirs), "another repository's services are never touched"
    other_view = json.loads(berth("status", "theirs", "--json", cwd=other).stdout)["sessions"][0]
    assert {s["state"] for s in other_view["services"]} == {"running"}
    assert len(registered_worktrees(other)) == 2


def test_prune_with_nothing_left_needs_no_confirmation(make_repo: RepoFactory, port_base: int) -> None:
    repo = make_repo(host_toml(port_base))
    done = berth("prune", cwd=repo)
    assert done.returncode == 0 and "0 item(s) to remove." in done.stdout


def _world(root: Path) -> tuple[object, ...]:
    """What prune could change: sessions, leases, operations, worktrees, marked processes."""
    procs = sorted(p.pid for p in psutil.process_iter() if _marked(p, root))
    return (
        db_rows(root, "sessions"),
        db_rows(root, "leases"),
        db_rows(root, "operations"),
        sorted(registered_worktrees(root)),
        sorted(p.name for p in (root / ".berth/worktrees").iterdir()),
        procs,
    )


def _marked(proc: psutil.Process, root: Path) -> bool:
    try:
        return str(root) in proc.environ().get("BERTH_PROCESS_MARKER", "")
    except (psutil.Error, OSError):
        return False

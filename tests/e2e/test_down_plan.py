"""`berth down --dry-run` on real host-mode sessions (ports 44000-44999): what it says would be
removed and kept, its blockers (uncommitted changes, commits nothing else has, a locked worktree),
that the down then does exactly that, and that asking changes nothing at all."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from conftest import RepoFactory
from e2e.host_config import host_toml
from e2e.outsiders import free_block
from world import assert_nothing_left, berth_processes

Run = Callable[..., subprocess.CompletedProcess[str]]
SLUG = "feat-plan"


@pytest.fixture
def repo(make_repo: RepoFactory) -> Path:
    base = free_block(70)
    return make_repo(host_toml(base))


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def files_under(root: Path, skip: Callable[[Path], bool] = lambda p: False) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink() and not skip(p)
    }


def world(repo: Path) -> dict[str, Any]:
    """Everything a down could change: the state file (bytes and rows), every file of git's and of
    the worktree, refs and worktree registrations, the session's processes, the listening ports."""
    db = repo / ".berth" / "state.db"
    state = db.read_bytes()
    procs = berth_processes(repo)
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = list(conn.iterdump())
    return {
        "state.db": hashlib.sha256(state).hexdigest(),
        "rows": rows,
        ".berth": files_under(
            repo / ".berth", lambda p: p.name.endswith(("-wal", "-shm")) or p.name == "state.db"
        ),
        ".git": files_under(repo / ".git"),
        "refs": git(repo, "for-each-ref"),
        "worktrees": git(repo, "worktree", "list", "--porcelain"),
        "processes": sorted((p.pid, p.create_time()) for p in procs),
        "listening": sorted(  # the session's listeners (other tests' come and go meanwhile)
            (c.laddr.port, c.pid)
            for c in psutil.net_connections("tcp")
            if c.status == psutil.CONN_LISTEN and c.pid in {p.pid for p in procs}
        ),
    }


def plan_of(run_berth: Run, repo: Path, *flags: str) -> dict[str, Any]:
    done = run_berth("down", SLUG, "--dry-run", "--json", *flags, cwd=repo)
    assert done.returncode == 0, done.stderr
    plan: dict[str, Any] = json.loads(done.stdout)
    return plan


def kinds(items: list[dict[str, Any]]) -> list[str]:
    return [i["kind"] for i in items]


def test_the_plan_of_a_clean_session_is_what_down_then_does(repo: Path, run_berth: Run) -> None:
    up = run_berth("up", "feat/plan", "--json", cwd=repo)
    assert up.returncode == 0, up.stderr
    session = json.loads(up.stdout)
    worktree = Path(session["worktreePath"])
    before = world(repo)

    plan = plan_of(run_berth, repo)

    assert world(repo) == before, "the dry run changed something"
    pids = {s["name"]: s["pid"] for s in session["services"]}
    ports = ", ".join(f"{n}={p}" for n, p in sorted(session["ports"].items()))
    assert plan == {
        "slug": SLUG,
        "dryRun": True,
        "status": "removed",
        "remove": [
            {"kind": "process", "name": f"web (pid {pids['web']})"},
            {"kind": "process", "name": f"api (pid {pids['api']})"},
            {"kind": "worktree", "name": str(worktree)},
            {"kind": "env file", "name": str(worktree / ".env.berth")},
            {"kind": "ports", "name": ports},
            {"kind": "session", "name": f"{SLUG} (slot 1)"},
        ],
        "keep": [
            {"kind": "branch", "name": "feat/plan", "reason": "down never deletes a branch"},
            {
                "kind": "logs",
                "name": str(repo / ".berth" / "logs" / SLUG),
                "reason": "down keeps the services' logs",
            },
        ],
        "blockers": [],
        "warnings": [],
    }
    human = run_berth("down", SLUG, "--dry-run", cwd=repo)
    assert human.returncode == 0 and human.stdout.startswith(
        f"Down plan for {SLUG} (dry run, nothing changed): the session would be removed.\n"
    )
    assert world(repo) == before

    down = run_berth("down", SLUG, "--json", cwd=repo)
    assert down.returncode == 0, down.stderr
    receipt = json.loads(down.stdout)
    predicted = [r for r in plan["remove"] if r["kind"] != "env file"]  # it goes with the worktree
    assert sorted(map(str, receipt["removed"])) == sorted(
        map(str, [*predicted[:-1], {"kind": "session", "name": SLUG}])
    )
    assert_nothing_left(repo, SLUG)


def test_blockers_uncommitted_changes_and_commits_nothing_else_has(repo: Path, run_berth: Run) -> None:
    assert run_berth("up", "feat/plan", cwd=repo).returncode == 0
    worktree = repo / ".berth" / "worktrees" / SLUG
    (worktree / "notes.txt").write_text("committed work\n")
    git(worktree, "add", "notes.txt")
    git(worktree, "commit", "-q", "-m", "add notes")
    sha = git(worktree, "rev-parse", "--short", "HEAD").strip()
    (worktree / "scratch.txt").write_text("uncommitted work\n")
    before = world(repo)

    plan = plan_of(run_berth, repo)

    assert world(repo) == before, "the dry run changed something"
    assert plan["status"] == "stopped"
    assert [(b["kind"], b["items"]) for b in plan["blockers"]] == [
        ("uncommittedChanges", ["scratch.txt"]),
        ("unpushedCommits", [f"{sha} add notes"]),
    ]
    assert plan["blockers"][0]["remedies"] == [{"action": "forceDown", "args": {"slug": SLUG}}]
    assert kinds(plan["keep"]) == ["worktree", "env file", "branch", "session", "logs"]
    assert "worktree" not in kinds(plan["remove"])

    forced = plan_of(run_berth, repo, "--force")
    assert forced["status"] == "removed" and "worktree" in kinds(forced["remove"])
    assert "deleted with it (forced)" in forced["blockers"][0]["message"]

    # the commit is on another branch now: no longer a blocker; a remote that has it works too
    git(repo, "branch", "keep-notes", "feat/plan")
    assert kinds(plan_of(run_berth, repo)["blockers"]) == ["uncommittedChanges"]
    git(repo, "branch", "-D", "keep-notes")
    remote = repo.parent / "remote.git"
    git(repo.parent, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    git(worktree, "push", "-q", "origin", "feat/plan")
    assert kinds(plan_of(run_berth, repo)["blockers"]) == ["uncommittedChanges"]

    # the down does what the plan said: the dirty worktree is kept, the session stopped
    down = json.loads(run_berth("down", SLUG, "--json", cwd=repo).stdout)
    assert down["status"] == "stopped" and kinds(down["kept"]) == ["worktree"]
    assert (worktree / "scratch.txt").read_text() == "uncommitted work\n"
    assert run_berth("down", SLUG, "--force", cwd=repo).returncode == 0
    assert_nothing_left(repo, SLUG)


def test_a_worktree_another_tool_locked_is_a_blocker_and_down_keeps_it(repo: Path, run_berth: Run) -> None:
    assert run_berth("up", "feat/plan", cwd=repo).returncode == 0
    worktree = repo / ".berth" / "worktrees" / SLUG
    git(repo, "worktree", "lock", "--reason", "agent run 42 in progress", str(worktree))
    before = world(repo)

    plan = plan_of(run_berth, repo, "--force")

    assert world(repo) == before, "the dry run changed something"
    assert plan["status"] == "stopped"
    (blocker,) = plan["blockers"]
    assert blocker["kind"] == "lockedWorktree" and blocker["items"] == [str(worktree)]
    assert "(agent run 42 in progress)" in blocker["message"] and "even when forced" in blocker["message"]

    down = json.loads(run_berth("down", SLUG, "--force", "--json", cwd=repo).stdout)
    assert down["status"] == "stopped"
    (kept,) = down["kept"]
    assert kept["kind"] == "worktree" and "git worktree unlock" in kept["reason"]
    assert worktree.is_dir() and berth_processes(repo) == []
    git(repo, "worktree", "unlock", str(worktree))
    assert run_berth("down", SLUG, cwd=repo).returncode == 0
    assert_nothing_left(repo, SLUG)


def test_an_unknown_session_is_refused(repo: Path, run_berth: Run) -> None:
    done = run_berth("down", "nope", "--dry-run", "--json", cwd=repo)
    assert done.returncode == 1
    assert json.loads(done.stdout)["error"]["code"] == "SESSION_NOT_FOUND"

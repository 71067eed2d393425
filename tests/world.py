"""Assertions about the real world after an operation: git, processes, ports and the state DB."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import psutil

from berth.adapters.processes import MARKER_ENV


def registered_worktrees(repo: Path) -> list[Path]:
    out = subprocess.run(
        ["git", "worktree", "list", "--porcelain"], cwd=repo, check=True, capture_output=True, text=True
    ).stdout
    return [Path(line.split(" ", 1)[1]) for line in out.splitlines() if line.startswith("worktree ")]


def berth_processes(repo: Path) -> list[psutil.Process]:
    """Live processes Berth started for sessions of `repo` (services and hooks carry a marker)."""
    found = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.status() == psutil.STATUS_ZOMBIE or MARKER_ENV not in proc.environ():
                continue
            if str(repo) in proc.cwd():
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, OSError):
            continue
    return found


def db_rows(repo: Path, table: str) -> list[tuple[object, ...]]:
    db = repo / ".berth" / "state.db"
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        return conn.execute(f"SELECT * FROM {table}").fetchall()


def assert_nothing_left(repo: Path, slug: str, *, branch_created: str | None = None) -> None:
    assert registered_worktrees(repo) == [repo.resolve()], "a worktree was left registered"
    assert not (repo / ".berth" / "worktrees" / slug).exists(), "the worktree directory was left"
    assert berth_processes(repo) == [], "a service or hook process was left running"
    assert db_rows(repo, "sessions") == [], "a session row was left"
    assert db_rows(repo, "leases") == [], "a port lease was left"
    assert db_rows(repo, "operations") == [], "an operation was left"
    assert db_rows(repo, "journal") == [], "journal entries were left"
    if branch_created:
        branches = subprocess.run(
            ["git", "branch", "--list", branch_created], cwd=repo, capture_output=True, text=True, check=True
        ).stdout
        assert branches.strip() == "", f"the branch {branch_created} created by the failed up was left"

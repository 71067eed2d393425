"""Fixtures shared by every test: real git repositories in temp dirs and parallel-safe ports."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from free_ports import free_block

TESTS_DIR = Path(__file__).parent
sys.path.insert(0, str(TESTS_DIR))
REPO_ROOT = TESTS_DIR.parent

BERTH = [sys.executable, "-m", "berth"]


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def port_base() -> int:
    """A base port whose neighbourhood (slots and search range) is free. Kept below the kernel's
    ephemeral range (32768+), where outgoing connections could take a port."""
    return free_block(range(20000, 32600, 100), 40)


RepoFactory = Callable[..., Path]


def _tear_down_leftovers(repo: Path) -> None:
    """Whatever a test left running is torn down, so no process outlives its test."""
    from berth.domain.errors import BerthError
    from berth.lifecycle.engine import DownRequest, Engine
    from berth.lifecycle.workspace import Workspace

    if not (repo / ".berth" / "state.db").exists():
        return
    engine = Engine(Workspace(repo))
    engine.recover()
    for session in engine.list_sessions():
        with contextlib.suppress(BerthError):
            engine.down(DownRequest(slug=session.slug, force=True))


@pytest.fixture
def make_repo(tmp_path: Path) -> Iterator[RepoFactory]:
    """A real git repository with an initial commit and the given berth.toml."""
    created: list[Path] = []

    def factory(config: str, *, name: str = "repo", files: dict[str, str] | None = None) -> Path:
        repo = tmp_path / name
        repo.mkdir()
        _git(repo, "init", "-q", "-b", "main")
        _git(repo, "config", "user.email", "test@example.com")
        _git(repo, "config", "user.name", "Berth Test")
        (repo / "berth.toml").write_text(textwrap.dedent(config))
        (repo / ".gitignore").write_text(".berth/\n")
        for rel, text in (files or {}).items():
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            (repo / rel).write_text(text)
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "-m", "initial")
        created.append(repo)
        return repo

    yield factory
    for repo in created:
        _tear_down_leftovers(repo)


@pytest.fixture
def run_berth() -> Iterator[Callable[..., subprocess.CompletedProcess[str]]]:
    def run(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*BERTH, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
        )

    yield run

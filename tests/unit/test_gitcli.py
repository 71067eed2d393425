"""adapters/gitcli.py behaves like the slice of GitPython that adapters/git.py relied on, on a real
repository: output without the final newline, errors with git's stderr, refusing non-repositories."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from berth.adapters import gitcli
from berth.adapters.gitroot import find_main_root
from berth.domain.errors import BerthError, ErrorCode


def _repo(path: Path) -> Path:
    path.mkdir()
    for args in (
        ["init", "-q", "-b", "main"],
        ["-c", "user.email=t@example.com", "-c", "user.name=T", "commit", "-q", "--allow-empty", "-m", "one"],
    ):
        subprocess.run(["git", *args], cwd=path, check=True, capture_output=True)
    return path


def test_commands_and_errors(tmp_path: Path) -> None:
    repo = gitcli.Repo(_repo(tmp_path / "r"))
    sha = repo.git.rev_parse("HEAD")
    assert len(sha) == 40 and "\n" not in sha
    repo.git.show_ref("--verify", "--quiet", "refs/heads/main")
    with pytest.raises(gitcli.GitCommandError) as caught:
        repo.git.show_ref("--verify", "refs/heads/nope")
    assert "not a valid ref" in caught.value.stderr
    assert repo.git(no_optional_locks=True).status("--porcelain", "-z") == ""
    listing = repo.git.worktree("list", "--porcelain")
    assert listing.splitlines()[0] == f"worktree {tmp_path / 'r'}"


def test_refuses_what_is_not_a_repository_top(tmp_path: Path) -> None:
    root = _repo(tmp_path / "r")
    (root / "sub").mkdir()
    with pytest.raises(gitcli.InvalidGitRepositoryError):
        gitcli.Repo(root / "sub")  # inside a repository, but not its top: GitPython refuses it too
    with pytest.raises(gitcli.NoSuchPathError):
        gitcli.Repo(tmp_path / "missing")


def test_main_root_from_a_linked_worktree(tmp_path: Path) -> None:
    root = _repo(tmp_path / "r")
    subprocess.run(["git", "worktree", "add", "-q", "-b", "b", str(tmp_path / "wt")], cwd=root, check=True)
    (tmp_path / "wt" / "deep").mkdir()
    assert find_main_root(tmp_path / "wt" / "deep") == root.resolve()
    assert find_main_root(root) == root.resolve()
    with pytest.raises(BerthError) as caught:
        find_main_root(tmp_path)
    assert caught.value.code is ErrorCode.NOT_A_GIT_REPO

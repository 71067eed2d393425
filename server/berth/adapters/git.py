"""Git through the git CLI (gitcli.py: GitPython's API, one subprocess per call, without its
import): worktrees, branches and uncommitted changes. Every branch argument is validated upstream
and passed after `--` or as a full ref, so it is never read as an option."""

from __future__ import annotations

import fcntl
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from berth.adapters import gitcli as git
from berth.domain.errors import BerthError, ErrorCode, Remedy, RemedyAction
from berth.domain.layout import ENV_FILE_NAME, Layout

_LOCK_RETRIES = 4


@dataclass(frozen=True)
class WorktreePlan:
    """Where a session's branch comes from, decided before anything is created."""

    branch: str
    source: Literal["local", "origin", "head"]
    start_sha: str | None
    """For a branch this call will create: the commit it starts at (a rollback deletes the branch
    only if it still points there)."""

    @property
    def new_branch(self) -> str | None:
        return None if self.source == "local" else self.branch


class Worktrees:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.repo = git.Repo(root)
        self._lock_path = Layout(root).lock_path("git-worktrees")

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """One worktree command at a time per repository, across processes: git 2.39 fails
        (`failed to read .git/worktrees/<x>/commondir`) when one `worktree add` lists the worktrees
        while another is half-way through creating its entry. Held only for the git command itself."""
        self._lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _has_ref(self, ref: str) -> bool:
        try:
            self.repo.git.show_ref("--verify", "--quiet", ref)
        except git.GitCommandError:
            return False
        return True

    def registered(self) -> set[Path]:
        with self._exclusive():
            out = self.repo.git.worktree("list", "--porcelain")
        return {
            Path(line[len("worktree ") :]).resolve()
            for line in out.splitlines()
            if line.startswith("worktree ")
        }

    def is_registered(self, path: Path) -> bool:
        return path.resolve() in self.registered()

    def plan(self, branch: str) -> WorktreePlan:
        """The local branch, else a new branch tracking origin/<branch>, else a new branch from HEAD."""
        if self._has_ref(f"refs/heads/{branch}"):
            return WorktreePlan(branch, "local", None)
        if self._has_ref(f"refs/remotes/origin/{branch}"):
            return WorktreePlan(branch, "origin", self.repo.git.rev_parse(f"refs/remotes/origin/{branch}"))
        return WorktreePlan(branch, "head", self.repo.git.rev_parse("HEAD"))

    def create(self, path: Path, plan: WorktreePlan) -> None:
        """`git worktree add` per the plan. Parallel bring-ups share one repository, so a git lock
        held by another process is retried after undoing this attempt's partial work."""
        path.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(_LOCK_RETRIES + 1):
            try:
                with self._exclusive():
                    self._add(path, plan)
                return
            except git.GitCommandError as exc:
                stderr = _stderr(exc)
                if ".lock" not in stderr or attempt == _LOCK_RETRIES:
                    raise BerthError(
                        ErrorCode.WORKTREE_FAILED,
                        f"git worktree add failed for branch {plan.branch!r} at {path}: {stderr}",
                        "if the branch is checked out in another worktree, reuse that worktree",
                        remedies=(Remedy(RemedyAction.REUSE_WORKTREE, {"branch": plan.branch}),),
                    ) from exc
                self.remove(path, force=True, purge_unregistered=True)
                if plan.new_branch and plan.start_sha:
                    self.delete_branch_if_unchanged(plan.new_branch, plan.start_sha)
                time.sleep(0.05 * (attempt + 1))

    def _add(self, path: Path, plan: WorktreePlan) -> None:
        if plan.source == "local":
            self.repo.git.worktree("add", "--", str(path), plan.branch)
        elif plan.source == "origin":
            self.repo.git.worktree(
                "add", "--track", "-b", plan.branch, "--", str(path), f"origin/{plan.branch}"
            )
        else:
            self.repo.git.worktree("add", "-b", plan.branch, "--", str(path), str(plan.start_sha))

    def worktree_of_branch(self, branch: str) -> Path | None:
        current: Path | None = None
        with self._exclusive():
            listing = self.repo.git.worktree("list", "--porcelain")
        for line in listing.splitlines():
            if line.startswith("worktree "):
                current = Path(line[len("worktree ") :])
            elif line == f"branch refs/heads/{branch}" and current is not None:
                return current.resolve()
        return None

    def remove(self, path: Path, *, force: bool, purge_unregistered: bool = False) -> None:
        """Remove a registered worktree. Without `force`, git itself refuses a dirty one.

        `purge_unregistered` also deletes files left at `path` by a half-finished `git worktree add`;
        only a rollback of the operation that created `path` may ask for it."""
        if self.is_registered(path):
            args = ["remove", *(["--force"] if force else []), "--", str(path)]
            try:
                with self._exclusive():
                    self.repo.git.worktree(*args)
            except git.GitCommandError as exc:
                raise BerthError(
                    ErrorCode.WORKTREE_FAILED,
                    f"git worktree remove failed for {path}: {_stderr(exc)}",
                    f"inspect it, then remove it by hand with `git worktree remove {path}`",
                ) from exc
        with self._exclusive():
            self.repo.git.worktree("prune")
        if purge_unregistered and path.exists() and not self.is_registered(path):
            shutil.rmtree(path, ignore_errors=True)

    def delete_branch_if_unchanged(self, branch: str, sha: str) -> bool:
        """Delete a branch this operation created, but only if nobody committed to it since."""
        ref = f"refs/heads/{branch}"
        if not self._has_ref(ref) or self.repo.git.rev_parse(ref) != sha:
            return False
        try:
            self.repo.git.branch("-D", "--", branch)
        except git.GitCommandError:
            return False  # still checked out somewhere: leave it
        return True


def _stderr(exc: git.GitCommandError) -> str:
    text = str(exc.stderr or exc).strip()
    return text.removeprefix("stderr:").strip().strip("'").strip()


def user_changes(worktree: Path, root: Path, inherited: list[str]) -> list[str]:
    """Uncommitted changes in `worktree` that are the user's: not `.env.berth`, and not the env files
    inherited from the main checkout `root` (symlinks, or copies still equal to their source).
    Empty when the worktree is gone or not a git checkout."""
    ours = {ENV_FILE_NAME, ENV_FILE_NAME + ".tmp"}
    for name in inherited:
        target, source = worktree / name, root / name
        if target.is_symlink() or (
            target.is_file() and source.is_file() and target.read_bytes() == source.read_bytes()
        ):
            ours.add(name)
    try:
        # no optional locks: asking must not rewrite the index (down --dry-run changes nothing)
        out = (
            git.Repo(worktree)
            .git(no_optional_locks=True)
            .status("--porcelain", "--untracked-files=all", "-z")
        )
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, git.GitCommandError):
        return []
    changed = [item[3:] for item in out.split("\0") if len(item) > 3]
    return [name for name in changed if name not in ours]


def git_version(timeout: float = 5.0) -> str | None:
    """The installed git's version (`2.39.2`), or None when there is no git that answers in time."""
    from berth.adapters.tool_query import query

    words = (query(["git", "--version"], timeout=timeout) or "").split()
    return words[2] if len(words) >= 3 else None


def worktree_lock(root: Path, path: Path) -> str | None:
    """Why another tool locked the worktree at `path` (`git worktree lock`; "" when it gave no
    reason), or None when it is not locked (or not a registered worktree)."""
    try:
        out = git.Repo(root).git(no_optional_locks=True).worktree("list", "--porcelain")
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, git.GitCommandError):
        return None
    wanted, current = path.resolve(), None
    for line in out.splitlines():
        if line.startswith("worktree "):
            current = Path(line[len("worktree ") :]).resolve()
        elif current == wanted and (line == "locked" or line.startswith("locked ")):
            return line[len("locked ") :] if line.startswith("locked ") else ""
    return None


def unshared_commits(root: Path, branch: str, limit: int = 50) -> list[str]:
    """Commits on local branch `branch` that no other local branch and no remote-tracking branch
    has (`<short sha> <subject>`, newest first, at most `limit`). Empty when the branch is gone."""
    try:
        repo = git.Repo(root).git(no_optional_locks=True)
        out = repo.rev_list(
            f"--max-count={limit}",
            "--format=%h %s",
            f"refs/heads/{branch}",
            "--not",
            f"--exclude={branch}",
            "--branches",
            "--remotes",
            "--",
        )
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, git.GitCommandError):
        return []
    return [line for line in out.splitlines() if line and not line.startswith("commit ")]

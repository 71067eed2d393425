"""The slice of GitPython's API that adapters/git.py uses, on the git CLI: one subprocess per call,
as GitPython itself runs them, without GitPython's import (tens of milliseconds on every CLI
command that touches a worktree, and megabytes of server memory).

`Repo(path).git.worktree("list", "--porcelain")` runs `git worktree list --porcelain` in `path`
and returns its stdout without the final newline; a non-zero exit raises GitCommandError with
git's stderr; `Repo(path)` refuses a path that is not a repository's top (NoSuchPathError,
InvalidGitRepositoryError), as GitPython does without `search_parent_directories`. Method names
map `_` to `-` (`show_ref` runs `git show-ref`); `.git(no_optional_locks=True)` adds
`--no-optional-locks` before the command."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path


class GitError(Exception):
    pass


class NoSuchPathError(GitError, OSError):
    pass


class InvalidGitRepositoryError(GitError):
    pass


class GitCommandError(GitError):
    def __init__(self, argv: list[str], status: int, stderr: str) -> None:
        super().__init__(
            f"Cmd('git') failed due to: exit code({status})\n  cmdline: {' '.join(argv)}\n  stderr: '{stderr}'"
        )
        self.command = argv
        self.status = status
        self.stderr = stderr


_ENV_OVERRIDES = {"LANGUAGE": "C", "LC_ALL": "C"}  # English messages, as GitPython runs git


class Git:
    def __init__(self, cwd: Path, options: tuple[str, ...] = ()) -> None:
        self._cwd = cwd
        self._options = options

    def __call__(self, *, no_optional_locks: bool = False) -> Git:
        return Git(self._cwd, self._options + (("--no-optional-locks",) if no_optional_locks else ()))

    def __getattr__(self, name: str) -> Callable[..., str]:
        if name.startswith("_"):
            raise AttributeError(name)
        command = name.replace("_", "-")

        def run(*args: str) -> str:
            return self.execute(command, *args)

        return run

    def execute(self, command: str, *args: str) -> str:
        argv = ["git", *self._options, command, *args]
        try:
            done = subprocess.run(
                argv,
                cwd=self._cwd,
                env={**os.environ, **_ENV_OVERRIDES},
                stdin=subprocess.DEVNULL,
                capture_output=True,
                check=False,
            )
        except OSError as exc:
            raise GitCommandError(argv, -1, str(exc)) from exc
        stdout = done.stdout.decode("utf-8", errors="replace")
        if done.returncode != 0:
            raise GitCommandError(
                argv, done.returncode, done.stderr.decode("utf-8", errors="replace").strip()
            )
        return stdout[:-1] if stdout.endswith("\n") else stdout


class Repo:
    def __init__(self, path: Path | str) -> None:
        top = Path(path)
        if not top.exists():
            raise NoSuchPathError(str(top))
        if not (top / ".git").exists():
            raise InvalidGitRepositoryError(str(top))
        self.working_tree_dir = str(top)
        self.git = Git(top)

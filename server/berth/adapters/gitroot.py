"""The main worktree of the repository containing a path, with one `git rev-parse` and no GitPython
(whose import costs more than the command: this is on every CLI command's path)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def find_main_root(start: Path) -> Path:
    """The main worktree of the repository containing `start` (works from a linked worktree too)."""
    try:
        done = subprocess.run(
            [
                "git",
                "-C",
                str(start),
                "rev-parse",
                "--path-format=absolute",
                "--git-common-dir",
                "--show-toplevel",
            ],
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except OSError as exc:
        from berth.domain.errors import BerthError, ErrorCode  # not at import: `berth ls` start-up

        raise BerthError(
            ErrorCode.NOT_A_GIT_REPO,
            f"git could not be run to find the repository of {start}: {exc.strerror or exc}",
            "install git and make sure it is on PATH",
        ) from exc
    lines = done.stdout.splitlines()
    if done.returncode != 0 or len(lines) < 2:
        from berth.domain.errors import BerthError, ErrorCode

        raise BerthError(
            ErrorCode.NOT_A_GIT_REPO,
            f"{start} is not inside a git repository",
            "run berth from inside your project's git checkout, or name the repository's root",
        )
    common, toplevel = Path(lines[0]), Path(lines[1])
    return common.parent.resolve() if common.name == ".git" else toplevel.resolve()

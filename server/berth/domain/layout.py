"""Where Berth keeps things: every path it derives from a repository root, defined once."""

from __future__ import annotations

from pathlib import Path

CONFIG_FILE = "berth.toml"
STATE_DIR = ".berth"
STATE_FILE = "state.db"
ENV_FILE_NAME = ".env.berth"
COMPOSE_FILE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
"""The file names compose itself looks for in a project directory, in its order."""


def state_file(root: Path) -> Path:
    return root / STATE_DIR / STATE_FILE


def env_file(worktree: Path) -> Path:
    return worktree / ENV_FILE_NAME


def find_compose_file(directory: Path) -> Path | None:
    """The compose file compose would pick in `directory`, or None."""
    return next((directory / n for n in COMPOSE_FILE_NAMES if (directory / n).is_file()), None)


class Layout:
    """The paths of one repository Berth manages. A plain class, not a dataclass: `berth ls` imports
    this module, and creating a dataclass costs it more than the rest of the module."""

    __slots__ = ("root",)

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def state_file(self) -> Path:
        return state_file(self.root)

    def worktree_path(self, worktree_dir: str, slug: str) -> Path:
        return self.root / worktree_dir / slug

    def log_dir(self, slug: str) -> Path:
        return self.state_dir / "logs" / slug

    def log_path(self, slug: str, service: str) -> Path:
        return self.log_dir(slug) / f"{service}.log"

    def session_compose_path(self, slug: str, group_index: int) -> Path:
        """The compose file a session's group runs with: compose's model, rewritten per session."""
        return self.state_dir / "compose" / f"{slug}-{group_index}.json"

    def lock_path(self, name: str) -> Path:
        return self.state_dir / f"{name}.lock"

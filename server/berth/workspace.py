"""One repository Berth manages: its root, config, state store and where files go."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from berth.adapters.git_worktrees import Worktrees, find_main_root
from berth.config import BerthConfig, load_config
from berth.store import SessionStore

STATE_DIR = ".berth"


@dataclass
class Workspace:
    root: Path
    _config: BerthConfig | None = field(default=None, repr=False)

    @classmethod
    def discover(cls, start: Path) -> Workspace:
        return cls(find_main_root(start))

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @cached_property
    def store(self) -> SessionStore:
        return SessionStore(self.state_dir / "state.db")

    @cached_property
    def worktrees(self) -> Worktrees:
        return Worktrees(self.root)

    def config(self) -> BerthConfig:
        """Read berth.toml afresh for every operation, so edits apply without a server restart."""
        return load_config(self.root)

    def worktree_path(self, config: BerthConfig, slug: str) -> Path:
        return self.root / config.worktree_dir / slug

    def log_dir(self, slug: str) -> Path:
        return self.state_dir / "logs" / slug

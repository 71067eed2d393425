"""One repository Berth manages: its root and layout, its config, its state store and its git
worktrees, each made once and shared by every operation on it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from berth.adapters.git import Worktrees
from berth.adapters.gitroot import find_main_root
from berth.adapters.processes import OsProcesses
from berth.domain.config import BerthConfig, load_config
from berth.domain.layout import Layout
from berth.state.store import SessionStore


@dataclass
class Workspace:
    root: Path

    @classmethod
    def discover(cls, start: Path) -> Workspace:
        return cls(find_main_root(start))

    @cached_property
    def layout(self) -> Layout:
        return Layout(self.root)

    @cached_property
    def store(self) -> SessionStore:
        return SessionStore(self.layout.state_file, OsProcesses())

    @cached_property
    def worktrees(self) -> Worktrees:
        return Worktrees(self.root)

    def config(self) -> BerthConfig:
        """Read berth.toml afresh for every operation, so edits apply without a server restart."""
        return load_config(self.root)

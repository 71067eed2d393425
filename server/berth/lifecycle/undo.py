"""The undo registry: every kind of undo record any mode journals, mapped to its handler. Crash
recovery replays a journal whatever berth.toml says now, so every family's kinds are registered."""

from __future__ import annotations

from berth.adapters.git import Worktrees
from berth.modes import undo
from berth.modes.compose import undo as compose_undo
from berth.state.rollback import UndoRegistry
from berth.state.store import SessionStore


def build_registry(store: SessionStore, worktrees: Worktrees) -> UndoRegistry:
    return UndoRegistry(
        {
            **undo.handlers(store, worktrees),
            compose_undo.COMPOSE_DOWN: compose_undo.take_down_group,
        }
    )

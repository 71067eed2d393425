"""Undo records are data: a kind, JSON arguments and a description, journalled before the step they
undo runs. The handlers that perform them live with the modes (modes/undo.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


@dataclass(frozen=True)
class UndoStep:
    kind: str
    args: Mapping[str, Any]
    description: str


class UndoState(StrEnum):
    """What happens to an undo step while it is unwound (reported to clients)."""

    UNDOING = "undoing"
    UNDONE = "undone"
    FAILED = "failed"

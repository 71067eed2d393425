"""What the state store persists about sessions, their processes and operations (pure data)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from berth.domain.config import Mode
from berth.domain.models import SessionStatus

START_TIME_TOLERANCE = 0.01
"""Seconds two readings of one process's start time may differ by (the kernel's clock ticks)."""


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ProcessIdentity:
    """A pid plus its start time: a recycled pid never matches."""

    pid: int
    start_time: float

    def started_at(self, start_time: float) -> bool:
        """Whether a process that started at `start_time` is this one."""
        return abs(start_time - self.start_time) < START_TIME_TOLERANCE

    def started_no_earlier_than_me(self, start_time: float) -> bool:
        """A process that started at `start_time` can be this leader's child (not an older pid's)."""
        return start_time + START_TIME_TOLERANCE >= self.start_time


class OperationKind(StrEnum):
    UP = "up"
    DOWN = "down"


class OperationStatus(StrEnum):
    RUNNING = "running"
    ROLLED_BACK = "rolled_back"
    NEEDS_RECOVERY = "needs_recovery"
    FAILED = "failed"


class JournalState(StrEnum):
    INTENT = "intent"
    """journalled, the step has not finished"""
    DONE = "done"
    """the step finished; its undo is pending"""
    UNDONE = "undone"
    FAILED = "failed"
    """the undo ran and failed; `recover` retries it"""

    @property
    def pending(self) -> bool:
        return self is not JournalState.UNDONE


class ProcessRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    service: str
    pid: int
    start_time: float
    log_path: str
    marker: str

    @property
    def identity(self) -> ProcessIdentity:
        return ProcessIdentity(self.pid, self.start_time)


class SessionRecord(BaseModel):
    slug: str
    branch: str
    mode: Mode
    slot: int
    status: SessionStatus
    worktree_path: str
    worktree_owned: bool = Field(description="Berth created the worktree, so down may remove it.")
    env_file: str
    ports: dict[str, int] = Field(default_factory=dict)
    processes: dict[str, ProcessRecord] = Field(default_factory=dict)
    resources: dict[str, Any] = Field(default_factory=dict, description="Mode-specific records (compose).")
    op_id: str | None = None
    started_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class OperationRecord(BaseModel):
    op_id: str
    slug: str
    kind: OperationKind
    owner_pid: int
    owner_start: float
    status: OperationStatus
    started_at: datetime

    @property
    def owner(self) -> ProcessIdentity:
        return ProcessIdentity(self.owner_pid, self.owner_start)


class JournalEntry(BaseModel):
    id: int
    op_id: str
    kind: str
    args: dict[str, Any]
    description: str
    state: JournalState
    error: str | None = None

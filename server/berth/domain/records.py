"""What the state store persists about sessions, their processes and operations (pure data)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from berth.domain.config import Mode
from berth.domain.engine_endpoint import LOCAL_ENGINE, Endpoint
from berth.domain.identity import START_TIME_TOLERANCE, ProcessIdentity
from berth.domain.models import SessionStatus

__all__ = [
    "START_TIME_TOLERANCE",
    "JournalEntry",
    "JournalState",
    "OperationKind",
    "OperationRecord",
    "OperationStatus",
    "ProcessIdentity",
    "ProcessRecord",
    "SessionRecord",
    "utcnow",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


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
    engine: dict[str, Any] | None = Field(
        default=None,
        description="The Docker engine endpoint resolved at up (docker modes); None: the local engine "
        "(host mode, or a session recorded before engines were).",
    )

    @property
    def endpoint(self) -> Endpoint:
        return LOCAL_ENGINE if self.engine is None else Endpoint.from_dict(self.engine)


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

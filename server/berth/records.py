"""What the state store persists about sessions, their processes and operations."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psutil
from pydantic import BaseModel, ConfigDict, Field

from berth.models import SessionStatus


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ProcessIdentity:
    """A pid plus its start time: a recycled pid never matches."""

    pid: int
    start_time: float

    @classmethod
    def current(cls) -> ProcessIdentity:
        return cls.of(os.getpid())

    @classmethod
    def of(cls, pid: int) -> ProcessIdentity:
        return cls(pid, psutil.Process(pid).create_time())

    def is_alive(self) -> bool:
        try:
            proc = psutil.Process(self.pid)
            return abs(proc.create_time() - self.start_time) < 0.01 and proc.status() != psutil.STATUS_ZOMBIE
        except (psutil.NoSuchProcess, psutil.AccessDenied, ProcessLookupError):
            return False


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
    mode: str
    slot: int
    status: SessionStatus
    worktree_path: str
    worktree_owned: bool = Field(description="Berth created the worktree, so down may remove it.")
    env_file: str
    ports: dict[str, int] = Field(default_factory=dict)
    processes: dict[str, ProcessRecord] = Field(default_factory=dict)
    resources: dict[str, Any] = Field(default_factory=dict, description="Mode-specific records (compose).")
    op_id: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class OperationRecord(BaseModel):
    op_id: str
    slug: str
    kind: str
    owner_pid: int
    owner_start: float
    status: str
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
    state: str
    error: str | None = None

"""Shapes Berth hands to its clients (CLI `--json`, JSON-RPC results). camelCase on the wire."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from berth.domain.config import Mode
from berth.domain.errors import RemedyAction
from berth.domain.undo import UndoState


class WireModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", defer_build=True
    )

    def to_wire(self) -> dict[str, object]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class SessionStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    STOPPED = "stopped"


class ServiceState(StrEnum):
    RUNNING = "running"
    STARTING = "starting"
    EXITED = "exited"
    WRONG_OWNER = "wrong-owner"
    STOPPED = "stopped"
    UNMANAGED = "unmanaged"
    UNKNOWN = "unknown"
    COMPLETED = "completed"
    """A one-shot service (others wait for it to complete) that exited 0."""
    NOT_STARTED = "not-started"
    """Left out by the active compose profiles."""

    @property
    def unhealthy(self) -> bool:
        return self in (ServiceState.EXITED, ServiceState.WRONG_OWNER)


class ServiceView(WireModel):
    name: str
    kind: Literal["native", "docker"]
    port: int | None = None
    state: ServiceState
    pid: int | None = None
    actual_ports: list[int] | None = Field(
        default=None, description="Ports the service's processes really listen on (status only)."
    )
    health: Literal["healthy", "unhealthy", "starting"] | None = Field(
        default=None, description="A docker service's healthcheck result, if it has one (status only)."
    )
    container: str | None = Field(default=None, description="A docker service's container name.")
    host: str | None = Field(
        default=None,
        description="Where a docker service's port is reached from this machine (the engine's host; "
        "127.0.0.1 for a local engine).",
    )
    log_path: str | None = Field(default=None, description="Where a native service's output goes.")
    detail: str | None = None


class SessionView(WireModel):
    slug: str
    branch: str
    mode: Mode
    slot: int
    status: SessionStatus
    worktree_path: str
    worktree_owned: bool = Field(
        default=True, description="Berth created the worktree; a reused one is never removed by down."
    )
    env_file: str
    ports: dict[str, int]
    services: list[ServiceView]
    started_at: datetime
    busy: bool = Field(default=False, description="An operation on this session is in flight.")
    engine: str | None = Field(
        default=None,
        description="The Docker engine the session runs on (docker modes): its URL, context and the "
        "rule that chose it at up.",
    )
    shared: list[ResourceRef] = Field(
        default_factory=list,
        description="Resources the session uses but shares with others (external docker networks and "
        "volumes, host paths outside the worktree that services bind-mount): never renamed, never removed.",
    )
    uncommitted_changes: list[str] | None = Field(
        default=None,
        description="The user's uncommitted changes in the worktree (status of one session only): a "
        "full down keeps a worktree Berth created that has any, unless forced (a reused worktree is "
        "never removed).",
    )


class ResourceRef(WireModel):
    kind: str
    name: str


class RemedyView(WireModel):
    action: RemedyAction
    args: dict[str, Any] = Field(default_factory=dict)


class KeptResource(WireModel):
    kind: str
    name: str
    reason: str
    remedies: list[RemedyView] | None = Field(
        default=None, description="What the user can do to remove it anyway (e.g. forceDown)."
    )


class TeardownReceipt(WireModel):
    slug: str
    removed: list[ResourceRef]
    kept: list[KeptResource]
    warnings: list[str] = Field(default_factory=list)
    status: Literal["removed", "stopped"] = "removed"


class UndoOutcome(WireModel):
    op_id: str
    slug: str
    step: str
    state: Literal[UndoState.UNDONE, UndoState.FAILED]
    detail: str | None = None


class RecoveryReport(WireModel):
    operations: list[str] = Field(description="Operation ids whose leftovers were replayed.")
    undone: list[UndoOutcome]
    remaining: int = Field(description="Undo steps that still failed and stay in the journal.")


# -- doctor and prune ---------------------------------------------------------------------------
class CheckStatus(StrEnum):
    OK = "ok"
    WARN = "warn"
    ERROR = "error"


class Check(WireModel):
    """One finding of `berth doctor`."""

    id: str = Field(description="Stable id, e.g. `git`, `state`, `engine`, `engine-leftovers`.")
    title: str
    status: CheckStatus
    detail: str = Field(description="What was found, in words.")
    remediation: str | None = Field(default=None, description="What to do about it (a command line).")
    required: bool = Field(
        default=False, description="Berth cannot work while this check errors (doctor then exits 1)."
    )
    items: list[str] = Field(default_factory=list, description="The individual findings, one per line.")
    seconds: float = Field(default=0.0, description="How long the check took.")


class DoctorSummary(WireModel):
    ok: int
    warn: int
    error: int


class DoctorReport(WireModel):
    root: str | None = Field(description="The repository checked (absent when there is none).")
    checks: list[Check]
    summary: DoctorSummary
    healthy: bool = Field(description="No required check errors.")
    seconds: float


class PruneItem(WireModel):
    """Something that belongs to this repository and to no live session."""

    kind: str = Field(
        description="container, network, volume, process, worktree, worktree registration, session, "
        "lease or journal."
    )
    name: str
    reason: str = Field(description="Why it is a leftover, and what prune does with it.")


class PruneReport(WireModel):
    root: str
    dry_run: bool
    volumes: bool = Field(description="Whether leftover volumes are (or would be) removed.")
    plan: list[PruneItem] = Field(description="What prune removes (or, with dryRun, would remove).")
    blockers: list[KeptResource] = Field(
        default_factory=list,
        description="Leftovers prune never removes (a worktree with uncommitted changes, a directory "
        "that is no git worktree, a busy session), with the reason.",
    )
    kept: list[KeptResource] = Field(
        default_factory=list, description="Leftover volumes kept because `volumes` was not asked for."
    )
    removed: list[PruneItem] = Field(
        default_factory=list, description="What was removed, confirmed against the engine, git and the state."
    )
    left: list[KeptResource] = Field(
        default_factory=list, description="Planned items still there afterwards, and why."
    )
    residue_free: bool = Field(description="Everything planned is gone (dryRun: nothing is planned).")


# -- down --dry-run -------------------------------------------------------------------------------
class DownBlocker(WireModel):
    """Something a person should decide about before a down: work that is only in the worktree or on
    the branch, or a worktree another tool holds."""

    kind: Literal["uncommittedChanges", "unpushedCommits", "lockedWorktree"]
    message: str = Field(description="What it is and what the down does about it.")
    items: list[str] = Field(
        default_factory=list, description="The changed files, or the commits (`<sha> <subject>`)."
    )
    remedies: list[RemedyView] | None = Field(
        default=None, description="What the user can do (e.g. forceDown to remove the worktree anyway)."
    )


class DownPlan(WireModel):
    """What `down` would do, changing nothing (`berth down --dry-run`, `berth/down` with `dryRun`)."""

    slug: str
    dry_run: Literal[True] = Field(default=True, description="Always true: tells a plan from a receipt.")
    status: Literal["removed", "stopped"] = Field(
        description="What the session would become: removed, or stopped with its worktree and slot kept."
    )
    remove: list[ResourceRef] = Field(description="What the down would remove.")
    keep: list[KeptResource] = Field(description="What it would keep, and why.")
    blockers: list[DownBlocker] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)

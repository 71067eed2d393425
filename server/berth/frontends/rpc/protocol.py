"""The wire protocol: every method's params and result and every notification, as pydantic models.

They and catalog.py (names, error numbers: what `initialize` needs before pydantic is imported) are
the single source of truth; `protocol/berth-protocol.json` is generated
from them (`python -m berth.frontends.rpc.schema --write`) and a test fails when it is stale."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, RootModel

from berth.domain.errors import ErrorCode
from berth.domain.logs import LogLineView, LogsResult
from berth.domain.models import (
    DoctorReport,
    DownPlan,
    PruneReport,
    RecoveryReport,
    RemedyView,
    SessionStatus,
    SessionView,
    TeardownReceipt,
    WireModel,
)
from berth.domain.undo import UndoState
from berth.frontends.rpc.catalog import (
    ERROR_NUMBERS,
    METHOD_NAMES,
    NOTIFICATION_NAMES,
    PROTOCOL_VERSION,
)

__all__ = ["ERROR_NUMBERS", "PROTOCOL_VERSION"]  # re-exported for schema.py

DEFAULT_RPC_TAIL = 200


class _Params(WireModel):
    root: str | None = Field(
        default=None,
        description="Repository root (path or file:// URI). Default: the first workspace folder from initialize.",
    )


class UpParams(_Params):
    branch: str = Field(description="Branch to bring up; its slug names the session.")
    reuse_worktree: bool = Field(
        default=False, description="Use the branch's existing worktree instead of creating one."
    )
    ports: dict[str, int] = Field(
        default_factory=dict, description="Fixed ports per service name (no probing)."
    )
    services: list[str] | None = Field(
        default=None, description="Start only these native services (default: all)."
    )
    context: str | None = Field(
        default=None,
        description="The docker context a new session's containers run on (beats berth.toml `engine` "
        "and DOCKER_HOST); an existing session stays on the engine it was created on.",
    )
    work_done_token: str | int | None = Field(default=None, description="LSP work-done progress token.")


class DownParams(_Params):
    slug: str = Field(description="Session slug (or its branch name).")
    keep_worktree: bool = Field(default=False, description="Stop services but keep the worktree and slot.")
    keep_volumes: bool = Field(default=False, description="Keep docker volumes.")
    keep_images: bool = Field(default=False, description="Keep the images compose built for the session.")
    force: bool = Field(default=False, description="Remove the worktree even if it has uncommitted changes.")
    dry_run: bool = Field(
        default=False,
        description="Change nothing: answer the DownPlan (what would be removed and kept, and the blockers) "
        "instead of a TeardownReceipt.",
    )
    work_done_token: str | int | None = Field(default=None, description="LSP work-done progress token.")


class DownResult(RootModel[TeardownReceipt | DownPlan]):
    """A TeardownReceipt, or with `dryRun` a DownPlan (which has `dryRun: true`)."""


class StatusParams(_Params):
    slug: str | None = Field(
        default=None,
        description="One session (default: all); with a slug the result also lists the user's "
        "uncommitted changes in its worktree.",
    )


class ListParams(_Params):
    pass


class RecoverParams(_Params):
    pass


class LogsParams(_Params):
    slug: str = Field(description="Session slug (or its branch name).")
    services: list[str] | None = Field(default=None, description="Only these services (default: all).")
    tail: int | None = Field(
        default=DEFAULT_RPC_TAIL, ge=0, description="The last N lines of each service; null: all of them."
    )
    since: str | None = Field(default=None, description="Only lines from this long ago: 10s, 5m, 2h, 1d.")
    follow: bool = Field(
        default=False,
        description="Send the lines, then every new one, as berth/logLine notifications; the request "
        "ends when the client cancels it ($/cancelRequest) or the session goes down.",
    )
    token: str | int | None = Field(
        default=None,
        description="Ties berth/logLine notifications to this request (default: the request's id).",
    )


class LogLineNotification(LogLineView):
    token: str | int = Field(description="The berth/logs request's token (or its id when it gave none).")


class CheckBranchParams(WireModel):
    branch: str = Field(description="A branch name a user is typing.")


class BranchCheck(WireModel):
    branch: str
    valid: bool
    slug: str | None = Field(default=None, description="The session slug the branch would get.")
    problem: str | None = Field(default=None, description="Which naming rule it breaks.")


class SessionsResult(WireModel):
    sessions: list[SessionView]


class EnvParams(_Params):
    slug: str = Field(description="Session slug (or its branch name).")
    shell: bool = Field(
        default=False,
        description="Also answer `shell`: how to open a terminal in the session (refused, like `berth shell`, "
        "for a stopped or busy session).",
    )
    service: str | None = Field(
        default=None,
        description="With `shell`: a docker service whose running container the terminal attaches to "
        "(default: the worktree).",
    )


class ShellCommand(WireModel):
    argv: list[str] | None = Field(
        default=None,
        description="The program and its arguments (`docker compose … exec SERVICE sh`); absent: the "
        "client's own shell.",
    )
    cwd: str = Field(description="Where to start it.")
    env: dict[str, str] = Field(
        description="Variables to set on top of the client's environment: the inherited env files, then "
        "`.env.berth`."
    )
    service: str | None = Field(default=None, description="The docker service it attaches to.")
    container: str | None = Field(default=None, description="That service's container.")


class EnvResult(WireModel):
    slug: str
    variables: dict[str, str] = Field(
        description="The session's generated variables (what `.env.berth` holds)."
    )
    env_file: str
    worktree_path: str
    shell: ShellCommand | None = Field(default=None, description="With `shell: true`.")


class DoctorParams(_Params):
    pass


class PruneParams(_Params):
    dry_run: bool = Field(default=False, description="Only answer the plan; change nothing.")
    volumes: bool = Field(
        default=False, description="Also remove leftover volumes of this repository (they may hold data)."
    )


class RollbackNotification(WireModel):
    slug: str
    op_id: str
    step: str = Field(description="What the undo step does, e.g. 'remove worktree /path'.")
    kind: str = Field(description="Undo kind, e.g. remove_worktree.")
    state: UndoState
    detail: str | None = None


class SessionChangedNotification(WireModel):
    slug: str
    status: SessionStatus | Literal["removed"]
    session: SessionView | None = None


class ErrorData(WireModel):
    code: ErrorCode
    hint: str
    remedies: list[RemedyView] | None = Field(
        default=None, description="What the user can do, as actions a client can offer (a button)."
    )
    details: dict[str, object] | None = None


METHODS: dict[str, tuple[type[WireModel], type[WireModel] | type[RootModel[Any]]]] = {
    "berth/up": (UpParams, SessionView),
    "berth/down": (DownParams, DownResult),
    "berth/status": (StatusParams, SessionsResult),
    "berth/list": (ListParams, SessionsResult),
    "berth/recover": (RecoverParams, RecoveryReport),
    "berth/checkBranch": (CheckBranchParams, BranchCheck),
    "berth/logs": (LogsParams, LogsResult),
    "berth/env": (EnvParams, EnvResult),
    "berth/doctor": (DoctorParams, DoctorReport),
    "berth/prune": (PruneParams, PruneReport),
}

NOTIFICATIONS: dict[str, type[WireModel]] = {
    "berth/rollback": RollbackNotification,
    "berth/sessionChanged": SessionChangedNotification,
    "berth/logLine": LogLineNotification,
}

if set(METHODS) != set(METHOD_NAMES) or set(NOTIFICATIONS) != set(NOTIFICATION_NAMES):
    raise RuntimeError("protocol.py and catalog.py disagree on the method or notification names")

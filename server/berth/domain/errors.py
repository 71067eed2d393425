"""The one error type users see: what happened, what to do, a stable machine code, and the remedies
as data so each frontend offers them in its own words (the CLI as a command line, VS Code as a
button, an agent as an action with arguments)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    CONFIG_MISSING = "CONFIG_MISSING"
    CONFIG_INVALID = "CONFIG_INVALID"
    CONFIG_EXISTS = "CONFIG_EXISTS"
    NOT_A_GIT_REPO = "NOT_A_GIT_REPO"
    ROOT_INVALID = "ROOT_INVALID"
    AUTH_FAILED = "AUTH_FAILED"
    INVALID_BRANCH = "INVALID_BRANCH"
    INVALID_SLUG = "INVALID_SLUG"
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    UNKNOWN_SERVICE = "UNKNOWN_SERVICE"
    SLUG_CONFLICT = "SLUG_CONFLICT"
    MODE_MISMATCH = "MODE_MISMATCH"
    SLOTS_EXHAUSTED = "SLOTS_EXHAUSTED"
    PORT_IN_USE = "PORT_IN_USE"
    PORT_EXHAUSTED = "PORT_EXHAUSTED"
    HOOK_FAILED = "HOOK_FAILED"
    SPAWN_FAILED = "SPAWN_FAILED"
    SERVICE_NOT_READY = "SERVICE_NOT_READY"
    WORKTREE_FAILED = "WORKTREE_FAILED"
    WORKTREE_NOT_FOUND = "WORKTREE_NOT_FOUND"
    WORKTREE_EXISTS = "WORKTREE_EXISTS"
    SESSION_NOT_FOUND = "SESSION_NOT_FOUND"
    SESSION_BUSY = "SESSION_BUSY"
    STATE_CORRUPT = "STATE_CORRUPT"
    CANCELLED = "CANCELLED"
    CONNECTION_CLOSING = "CONNECTION_CLOSING"
    DOCKER_UNAVAILABLE = "DOCKER_UNAVAILABLE"
    COMPOSE_UNAVAILABLE = "COMPOSE_UNAVAILABLE"
    COMPOSE_FAILED = "COMPOSE_FAILED"
    COMPOSE_FILE_INVALID = "COMPOSE_FILE_INVALID"
    COMPOSE_UNSUPPORTED = "COMPOSE_UNSUPPORTED"
    PORT_NOT_PUBLISHED = "PORT_NOT_PUBLISHED"
    PROJECT_CONFLICT = "PROJECT_CONFLICT"
    INTERNAL = "INTERNAL"
    SESSION_STOPPED = "SESSION_STOPPED"
    SERVICE_NOT_RUNNING = "SERVICE_NOT_RUNNING"
    CONFIRMATION_REQUIRED = "CONFIRMATION_REQUIRED"


ERROR_DESCRIPTIONS: dict[ErrorCode, str] = {
    ErrorCode.CONFIG_MISSING: "No berth.toml at the repository root.",
    ErrorCode.CONFIG_INVALID: "berth.toml could not be parsed or has invalid values; every problem is listed.",
    ErrorCode.CONFIG_EXISTS: "berth.toml already exists; init does not overwrite it unless forced.",
    ErrorCode.NOT_A_GIT_REPO: "The directory is not inside a git repository.",
    ErrorCode.ROOT_INVALID: "The requested root is not an allowed Berth repository.",
    ErrorCode.AUTH_FAILED: "The connection did not present the server's token.",
    ErrorCode.INVALID_BRANCH: "The branch name breaks a naming rule; nothing was created.",
    ErrorCode.INVALID_SLUG: "The session slug breaks the slug rule (2-62 chars of [a-z0-9-]).",
    ErrorCode.INVALID_ARGUMENT: "An argument is malformed (e.g. a port outside 1-65535).",
    ErrorCode.UNKNOWN_SERVICE: "A service name is not defined in berth.toml.",
    ErrorCode.SLUG_CONFLICT: "Another branch already owns this slug.",
    ErrorCode.MODE_MISMATCH: "The session was brought up in another mode than berth.toml now names.",
    ErrorCode.SLOTS_EXHAUSTED: "Every slot (1..max_slots) is taken.",
    ErrorCode.PORT_IN_USE: "A required port is taken and strict_port forbids searching.",
    ErrorCode.PORT_EXHAUSTED: "No free port was found in the search range.",
    ErrorCode.HOOK_FAILED: "A lifecycle hook exited non-zero or could not start.",
    ErrorCode.SPAWN_FAILED: "A native service could not start or exited during start-up.",
    ErrorCode.SERVICE_NOT_READY: "A service did not pass its readiness probe in time.",
    ErrorCode.WORKTREE_FAILED: "git could not create or remove the session's worktree.",
    ErrorCode.WORKTREE_NOT_FOUND: "The worktree to reuse does not exist.",
    ErrorCode.WORKTREE_EXISTS: "A directory already exists where the worktree would go.",
    ErrorCode.SESSION_NOT_FOUND: "No session with that slug.",
    ErrorCode.SESSION_BUSY: "Another operation on this session is in flight.",
    ErrorCode.STATE_CORRUPT: "The state database could not be read.",
    ErrorCode.CANCELLED: "The operation was cancelled and rolled back.",
    ErrorCode.CONNECTION_CLOSING: "The connection is shutting down and takes no more requests.",
    ErrorCode.DOCKER_UNAVAILABLE: "No Docker engine answers.",
    ErrorCode.COMPOSE_UNAVAILABLE: "No docker compose v2 was found.",
    ErrorCode.COMPOSE_FAILED: "A docker compose command failed.",
    ErrorCode.COMPOSE_FILE_INVALID: "A compose file is missing or cannot be parsed.",
    ErrorCode.COMPOSE_UNSUPPORTED: "The compose file uses something sessions cannot isolate (network_mode: host).",
    ErrorCode.PORT_NOT_PUBLISHED: "After up, the engine does not publish a port the session leased.",
    ErrorCode.PROJECT_CONFLICT: "The session's compose project name is used by containers Berth does not own.",
    ErrorCode.INTERNAL: "An unexpected internal error (a bug); the server log has the traceback.",
    ErrorCode.SESSION_STOPPED: "The session is stopped: bring it up to run commands in it.",
    ErrorCode.SERVICE_NOT_RUNNING: "The docker service has no running container to run a command in.",
    ErrorCode.CONFIRMATION_REQUIRED: "A destructive command (prune) needs confirmation: --yes, or an answer at the prompt.",
}


class RemedyAction(StrEnum):
    """What a user can do about an error; each frontend renders it (CLI flag, VS Code button)."""

    UP = "up"
    """args: branch"""
    REUSE_WORKTREE = "reuseWorktree"
    """up again using the existing worktree; args: branch"""
    DOWN = "down"
    """args: slug"""
    FORCE_DOWN = "forceDown"
    """down removing a worktree with uncommitted changes; args: slug"""
    CHOOSE_PORT = "choosePort"
    """up again with a fixed port for a service; args: branch, service"""
    RECOVER = "recover"
    LIST_SESSIONS = "listSessions"
    INIT = "init"
    """write a starter berth.toml; args: root"""
    OVERWRITE_CONFIG = "overwriteConfig"
    """init again, replacing berth.toml; args: root"""
    EDIT_CONFIG = "editConfig"
    """args: root, and key when one key is at fault"""
    SHOW_LOG = "showLog"
    """args: path, and slug/service when a service's log"""


@dataclass(frozen=True)
class Remedy:
    action: RemedyAction
    args: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action.value, "args": dict(self.args)}


class BerthError(Exception):
    """An error with a stable code: ``message`` says what happened, ``hint`` what to do (in words
    every client can show), ``remedies`` the same as actions a client can offer."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        hint: str,
        *,
        remedies: tuple[Remedy, ...] = (),
        **details: Any,
    ) -> None:
        super().__init__(f"{message}; {hint}")
        self.code = code
        self.message = message
        self.hint = hint
        self.remedies = remedies
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"code": self.code.value, "message": self.message, "hint": self.hint}
        if self.remedies:
            data["remedies"] = [r.to_dict() for r in self.remedies]
        if self.details:
            data["details"] = self.details
        return data


class OperationCancelled(BerthError):
    def __init__(self, what: str = "operation") -> None:
        super().__init__(
            ErrorCode.CANCELLED,
            f"the {what} was cancelled and everything it created was rolled back",
            "run it again when ready",
        )


_ROLLBACK_ATTR = "berth_rollback"


def record_incomplete_rollback(exc: BaseException, remaining: list[dict[str, Any]]) -> None:
    """Attach what a failed operation's rollback could not undo to the error that ended it, so the
    user learns it whatever the error: a BerthError's details, hint and remedies say it at once; any
    other exception (a bug) carries it to the frontend, which reports it with `internal_error`."""
    report = {"complete": False, "remaining": remaining}
    if isinstance(exc, BerthError):
        exc.details["rollback"] = report
        exc.hint += "; rollback could not undo everything (listed in the details): recover retries it"
        exc.remedies = (*exc.remedies, Remedy(RemedyAction.RECOVER))
    else:
        setattr(exc, _ROLLBACK_ATTR, report)


def internal_error(exc: BaseException, message: str, hint: str) -> BerthError:
    """The INTERNAL error a frontend reports for an unexpected exception (a bug), with the rollback
    residue `record_incomplete_rollback` attached to it, if any."""
    report: dict[str, Any] | None = getattr(exc, _ROLLBACK_ATTR, None)
    if report is None:
        return BerthError(ErrorCode.INTERNAL, message, hint)
    return BerthError(
        ErrorCode.INTERNAL,
        message,
        f"{hint}; rollback could not undo everything (listed in the details): recover retries it",
        remedies=(Remedy(RemedyAction.RECOVER),),
        rollback=report,
    )


def session_not_found(slug: str) -> BerthError:
    return BerthError(
        ErrorCode.SESSION_NOT_FOUND,
        f"session {slug!r} not found",
        "list the sessions of this repository to find the right slug",
        remedies=(Remedy(RemedyAction.LIST_SESSIONS),),
        slug=slug,
    )

"""The one error type users see: what happened, what to do, and a stable machine code."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    CONFIG_MISSING = "CONFIG_MISSING"
    CONFIG_INVALID = "CONFIG_INVALID"
    NOT_A_GIT_REPO = "NOT_A_GIT_REPO"
    ROOT_INVALID = "ROOT_INVALID"
    INVALID_BRANCH = "INVALID_BRANCH"
    INVALID_SLUG = "INVALID_SLUG"
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    UNKNOWN_SERVICE = "UNKNOWN_SERVICE"
    SLUG_CONFLICT = "SLUG_CONFLICT"
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
    ROLLBACK_INCOMPLETE = "ROLLBACK_INCOMPLETE"
    DOCKER_UNAVAILABLE = "DOCKER_UNAVAILABLE"
    COMPOSE_UNAVAILABLE = "COMPOSE_UNAVAILABLE"
    COMPOSE_FAILED = "COMPOSE_FAILED"
    COMPOSE_FILE_INVALID = "COMPOSE_FILE_INVALID"
    INTERNAL = "INTERNAL"


ERROR_DESCRIPTIONS: dict[ErrorCode, str] = {
    ErrorCode.CONFIG_MISSING: "No berth.toml at the repository root.",
    ErrorCode.CONFIG_INVALID: "berth.toml could not be parsed or has invalid values; every problem is listed.",
    ErrorCode.NOT_A_GIT_REPO: "The directory is not inside a git repository.",
    ErrorCode.ROOT_INVALID: "The requested root is not an allowed Berth repository.",
    ErrorCode.INVALID_BRANCH: "The branch name breaks a naming rule; nothing was created.",
    ErrorCode.INVALID_SLUG: "The session slug breaks the slug rule (2-62 chars of [a-z0-9-]).",
    ErrorCode.INVALID_ARGUMENT: "An argument is malformed (e.g. --port NAME=PORT).",
    ErrorCode.UNKNOWN_SERVICE: "A service name is not defined in berth.toml.",
    ErrorCode.SLUG_CONFLICT: "Another branch already owns this slug.",
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
    ErrorCode.ROLLBACK_INCOMPLETE: "Rollback could not undo every step; `berth recover` retries.",
    ErrorCode.DOCKER_UNAVAILABLE: "No Docker engine answers.",
    ErrorCode.COMPOSE_UNAVAILABLE: "No docker compose v2 was found.",
    ErrorCode.COMPOSE_FAILED: "A docker compose command failed.",
    ErrorCode.COMPOSE_FILE_INVALID: "A compose file is missing or cannot be parsed.",
    ErrorCode.INTERNAL: "An unexpected internal error.",
}


class BerthError(Exception):
    """An error with a stable code: ``message`` says what happened, ``hint`` what to do."""

    def __init__(self, code: ErrorCode, message: str, hint: str, **details: Any) -> None:
        super().__init__(f"{message}; {hint}")
        self.code = code
        self.message = message
        self.hint = hint
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"code": self.code.value, "message": self.message, "hint": self.hint}
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

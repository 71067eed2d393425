"""What a client learns at `initialize` and what an error's number is: the method and notification
names, the protocol version and the stable error numbers. Plain data, so that the server answers
`initialize` before pydantic, the wire models (protocol.py) and the engine are imported."""

from __future__ import annotations

from typing import Any

from berth.domain.errors import ErrorCode
from berth.domain.slug import SLUG_RULE

PROTOCOL_VERSION = 2

METHOD_NAMES = (
    "berth/up",
    "berth/down",
    "berth/status",
    "berth/list",
    "berth/recover",
    "berth/checkBranch",
    "berth/logs",
    "berth/env",
    "berth/doctor",
    "berth/prune",
)
"""Every request method; protocol.py's METHODS gives each its params and result models."""

NOTIFICATION_NAMES = ("berth/rollback", "berth/sessionChanged", "berth/logLine")

# Stable numbers outside JSON-RPC's and LSP's reserved ranges; never renumber, only append.
ERROR_NUMBERS: dict[ErrorCode, int] = {
    ErrorCode.CONFIG_MISSING: 1001,
    ErrorCode.CONFIG_INVALID: 1002,
    ErrorCode.NOT_A_GIT_REPO: 1003,
    ErrorCode.ROOT_INVALID: 1004,
    ErrorCode.INVALID_BRANCH: 1005,
    ErrorCode.INVALID_SLUG: 1006,
    ErrorCode.INVALID_ARGUMENT: 1007,
    ErrorCode.UNKNOWN_SERVICE: 1008,
    ErrorCode.SLUG_CONFLICT: 1009,
    ErrorCode.SLOTS_EXHAUSTED: 1010,
    ErrorCode.PORT_IN_USE: 1011,
    ErrorCode.PORT_EXHAUSTED: 1012,
    ErrorCode.HOOK_FAILED: 1013,
    ErrorCode.SPAWN_FAILED: 1014,
    ErrorCode.SERVICE_NOT_READY: 1015,
    ErrorCode.WORKTREE_FAILED: 1016,
    ErrorCode.WORKTREE_NOT_FOUND: 1017,
    ErrorCode.WORKTREE_EXISTS: 1018,
    ErrorCode.SESSION_NOT_FOUND: 1019,
    ErrorCode.SESSION_BUSY: 1020,
    ErrorCode.STATE_CORRUPT: 1021,
    ErrorCode.CANCELLED: 1022,
    # 1023 was ROLLBACK_INCOMPLETE (never raised; a failed rollback is in details.rollback): not reused
    ErrorCode.DOCKER_UNAVAILABLE: 1024,
    ErrorCode.COMPOSE_UNAVAILABLE: 1025,
    ErrorCode.COMPOSE_FAILED: 1026,
    ErrorCode.COMPOSE_FILE_INVALID: 1027,
    ErrorCode.AUTH_FAILED: 1028,
    ErrorCode.CONFIG_EXISTS: 1029,
    ErrorCode.MODE_MISMATCH: 1030,
    ErrorCode.PROJECT_CONFLICT: 1031,
    ErrorCode.CONNECTION_CLOSING: 1032,
    ErrorCode.COMPOSE_UNSUPPORTED: 1033,
    ErrorCode.PORT_NOT_PUBLISHED: 1034,
    ErrorCode.SESSION_STOPPED: 1035,
    ErrorCode.SERVICE_NOT_RUNNING: 1036,
    ErrorCode.CONFIRMATION_REQUIRED: 1037,
    ErrorCode.INTERNAL: 1099,
}


def capabilities() -> dict[str, Any]:
    """`capabilities.experimental.berth` of the initialize result."""
    return {
        "protocolVersion": PROTOCOL_VERSION,
        "methods": sorted(METHOD_NAMES),
        "notifications": sorted(NOTIFICATION_NAMES),
        "slugRule": SLUG_RULE,
    }

"""`berth ls --json` and `berth status --json` for host-mode sessions without pydantic, the engine,
GitPython or psutil: the session rows straight from the state file's JSON, the native services'
views from the same rules `status` uses (modes/native_rows.py), printed in the wire shape of
`SessionView.to_wire()` (tests/unit/test_listing.py holds the two to the same output).

Every function returns None when it cannot answer exactly like the engine would (no state file yet,
another schema version, a session in a docker mode, a row that does not look like what this version
writes): the caller then takes the engine's path, which also reports a corrupt row properly."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from berth.modes.native_rows import native_row
from berth.state.version import SCHEMA_VERSION

if TYPE_CHECKING:
    from berth.adapters.process_table import HostSnapshot

_BUSY_MS = 10_000
_STATUSES = frozenset({"pending", "active", "stopped"})


def read_bodies(state_file: Path) -> list[dict[str, Any]] | None:
    """Every session row, in slot order, as the JSON the store wrote; None if the file is missing
    or of another schema version. Opens the file read-write without creating it (a reader of a WAL
    file may need to create its -shm index) and changes nothing in it."""
    if not state_file.is_file():
        return None
    try:
        conn = sqlite3.connect(
            f"file:{state_file}?mode=rw", uri=True, timeout=_BUSY_MS / 1000, isolation_level=None
        )
    except sqlite3.Error:
        return None
    try:
        if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            return None
        rows = conn.execute("SELECT body FROM sessions ORDER BY slot").fetchall()
        return [json.loads(r[0]) for r in rows]
    except (sqlite3.Error, ValueError):
        return None
    finally:
        conn.close()


def host_rows(state_file: Path, *, live: bool) -> list[dict[str, Any]] | None:
    """The wire rows of every session (live: with a status probe), or None (see the module)."""
    bodies = read_bodies(state_file)
    if bodies is None:
        return None
    try:
        if not all(_plain_host_row(b) for b in bodies):
            return None
        host = None
        if live:
            from berth.adapters.process_table import HostSnapshot

            host = HostSnapshot.take()
        return [session_row(b, host) for b in bodies]
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _plain_host_row(body: Any) -> bool:
    if not isinstance(body, dict) or body.get("mode") != "host" or body.get("status") not in _STATUSES:
        return False
    procs = body.get("processes", {})
    return (
        isinstance(body.get("slot"), int)
        and all(
            isinstance(body.get(k), str)
            for k in ("slug", "branch", "worktree_path", "env_file", "started_at")
        )
        and isinstance(body.get("worktree_owned"), bool)
        and isinstance(body.get("ports", {}), dict)
        and all(isinstance(p, int) and not isinstance(p, bool) for p in body.get("ports", {}).values())
        and isinstance(procs, dict)
        and all(
            isinstance(p, dict)
            and isinstance(p.get("pid"), int)
            and isinstance(p.get("start_time"), int | float)
            and isinstance(p.get("log_path"), str)
            for p in procs.values()
        )
    )


def session_row(body: dict[str, Any], host: HostSnapshot | None) -> dict[str, Any]:
    ports: dict[str, int] = dict(body.get("ports", {}))
    procs: dict[str, Any] = body.get("processes", {})
    return {
        "slug": body["slug"],
        "branch": body["branch"],
        "mode": body["mode"],
        "slot": body["slot"],
        "status": body["status"],
        "worktreePath": body["worktree_path"],
        "worktreeOwned": body["worktree_owned"],
        "envFile": body["env_file"],
        "ports": ports,
        "services": [
            native_row(body["status"], name, port, procs.get(name), host) for name, port in ports.items()
        ],
        "startedAt": body["started_at"],
        "busy": body.get("op_id") is not None,
        "shared": [],
    }


UNHEALTHY_STATES = frozenset({"exited", "wrong-owner"})
"""domain.models.ServiceState.unhealthy, as values."""


def unhealthy(rows: list[dict[str, Any]]) -> bool:
    return any(s["state"] in UNHEALTHY_STATES for r in rows for s in r["services"])

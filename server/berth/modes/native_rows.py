"""A native service's view as a plain dict in wire shape (camelCase, no None values): the one place
its rules live. `modes/host/views.py` validates it into a ServiceView; the CLI's fast `ls`/`status` prints it
as is, without importing pydantic (lifecycle/listing.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # `ls` never probes the host: the snapshot's module (sockets, netlink) stays unloaded
    from berth.adapters.process_table import HostSnapshot

# The values of domain.models.ServiceState / SessionStatus (that module imports pydantic).
RUNNING, STARTING, EXITED, WRONG_OWNER, STOPPED, UNMANAGED = (
    "running",
    "starting",
    "exited",
    "wrong-owner",
    "stopped",
    "unmanaged",
)
PENDING, S_STOPPED = "pending", "stopped"


def native_row(
    status: str, name: str, port: int, proc: Mapping[str, Any] | None, host: HostSnapshot | None
) -> dict[str, Any]:
    """`status` is the session's status value; `proc` its ProcessRecord for the service as a dict
    (pid, start_time, log_path), or None."""
    row: dict[str, Any] = {"name": name, "kind": "native", "port": port}
    if status == S_STOPPED:
        return _done(row, STOPPED, proc)
    if proc is None:
        return _done(row, STARTING if status == PENDING else UNMANAGED, None)
    row["state"] = None  # keeps the field order of ServiceView: name, kind, port, state, pid, ...
    row["pid"] = proc["pid"]
    if host is None:
        return _done(row, RUNNING, proc)
    from berth.domain.identity import ProcessIdentity  # only when live: `ls` makes no dataclass

    leader = ProcessIdentity(proc["pid"], proc["start_time"])
    tree = host.tree(leader)
    if not (host.alive(leader) or tree):
        return _done(row, EXITED, proc, detail=f"see its log: {proc['log_path']}")
    actual = host.ports_of(tree)
    holder = None
    if port not in actual:
        holder = host.port_owner.get(port)
        if holder is not None and holder in tree:  # a member of its group outside its descendants
            actual = sorted({*actual, *host.ports_of({holder})})
            holder = None
    row["actualPorts"] = actual
    if port in actual:
        return _done(row, RUNNING, proc)
    if holder is not None:
        return _done(
            row,
            WRONG_OWNER,
            proc,
            detail=f"port {port} is held by PID {holder}, which is not this service; do not kill it blindly",
        )
    state = STARTING if status == PENDING else RUNNING
    detail = None if not actual else f"listening on {actual}, not on its port {port}"
    if state == RUNNING:
        detail = detail or f"running but not listening on port {port}"
    return _done(row, state, proc, detail=detail)


def _done(
    row: dict[str, Any], state: str, proc: Mapping[str, Any] | None, detail: str | None = None
) -> dict[str, Any]:
    row["state"] = state
    if proc is not None:
        row["logPath"] = proc["log_path"]
    if detail is not None:
        row["detail"] = detail
    return row

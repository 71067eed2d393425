"""How a session's native services look to clients: from the record alone (list), or live from one
snapshot of the host's process and socket tables (status)."""

from __future__ import annotations

from collections.abc import Mapping

from berth.adapters.process_table import HostSnapshot
from berth.domain.models import ServiceState, ServiceView, SessionStatus
from berth.domain.records import SessionRecord


def native_service_views(
    record: SessionRecord, ports: Mapping[str, int], host: HostSnapshot | None
) -> list[ServiceView]:
    return [_view(record, name, port, host) for name, port in ports.items()]


def _view(record: SessionRecord, name: str, port: int, host: HostSnapshot | None) -> ServiceView:
    proc = record.processes.get(name)
    log_path = proc.log_path if proc else None
    base = {"name": name, "kind": "native", "port": port, "log_path": log_path}
    if record.status is SessionStatus.STOPPED:
        return ServiceView.model_validate({**base, "state": ServiceState.STOPPED})
    if proc is None:
        state = ServiceState.STARTING if record.status is SessionStatus.PENDING else ServiceState.UNMANAGED
        return ServiceView.model_validate({**base, "state": state})
    base["pid"] = proc.pid
    if host is None:
        return ServiceView.model_validate({**base, "state": ServiceState.RUNNING})
    if not (host.alive(proc.identity) or host.tree(proc.identity)):
        return ServiceView.model_validate(
            {**base, "state": ServiceState.EXITED, "detail": f"see its log: {proc.log_path}"}
        )
    actual = host.ports_of(host.tree(proc.identity))
    base["actual_ports"] = actual
    if port in actual:
        return ServiceView.model_validate({**base, "state": ServiceState.RUNNING})
    holder = host.port_owner.get(port)
    if holder is not None:
        return ServiceView.model_validate(
            {
                **base,
                "state": ServiceState.WRONG_OWNER,
                "detail": f"port {port} is held by PID {holder}, which is not this service; do not kill it blindly",
            }
        )
    state = ServiceState.STARTING if record.status is SessionStatus.PENDING else ServiceState.RUNNING
    detail = None if not actual else f"listening on {actual}, not on its port {port}"
    if state is ServiceState.RUNNING:
        detail = detail or f"running but not listening on port {port}"
    return ServiceView.model_validate({**base, "state": state, "detail": detail})

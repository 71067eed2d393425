"""Turning stored sessions into what clients see, with cheap (list) or live (status) health."""

from __future__ import annotations

from berth.adapters.host_snapshot import HostSnapshot
from berth.compose_project import compose_record
from berth.docker_views import docker_service_views
from berth.models import ServiceState, ServiceView, SessionStatus, SessionView
from berth.records import SessionRecord


def session_view(
    record: SessionRecord, *, live: bool = False, host: HostSnapshot | None = None
) -> SessionView:
    """`live` adds what the services really listen on; pass one `host` snapshot for many sessions."""
    if live and host is None:
        host = HostSnapshot.take()
    compose = compose_record(record)
    docker_ports = set(compose.ports) if compose else set()
    services = [
        _service_view(record, name, port, host if live else None)
        for name, port in record.ports.items()
        if name not in docker_ports
    ]
    if compose is not None:
        services += docker_service_views(record, compose, live=live)
    return SessionView(
        slug=record.slug,
        branch=record.branch,
        mode=record.mode,
        slot=record.slot,
        status=record.status,
        worktree_path=record.worktree_path,
        env_file=record.env_file,
        ports=dict(record.ports),
        services=services,
        started_at=record.started_at,
        busy=record.op_id is not None,
    )


def _service_view(record: SessionRecord, name: str, port: int, host: HostSnapshot | None) -> ServiceView:
    proc = record.processes.get(name)
    if record.status is SessionStatus.STOPPED:
        return ServiceView(name=name, kind="native", port=port, state=ServiceState.STOPPED)
    if proc is None:
        state = ServiceState.STARTING if record.status is SessionStatus.PENDING else ServiceState.UNMANAGED
        return ServiceView(name=name, kind="native", port=port, state=state)
    running = (
        host.alive(proc.identity) or bool(host.tree(proc.identity)) if host else proc.identity.is_alive()
    )
    if not running:
        return ServiceView(
            name=name,
            kind="native",
            port=port,
            state=ServiceState.EXITED,
            pid=proc.pid,
            detail=f"see its log: {proc.log_path}",
        )
    if host is None:
        return ServiceView(name=name, kind="native", port=port, state=ServiceState.RUNNING, pid=proc.pid)
    actual = host.ports_of(host.tree(proc.identity))
    if port in actual:
        return ServiceView(
            name=name, kind="native", port=port, state=ServiceState.RUNNING, pid=proc.pid, actual_ports=actual
        )
    holder = host.port_owner.get(port)
    if holder is not None:
        return ServiceView(
            name=name,
            kind="native",
            port=port,
            state=ServiceState.WRONG_OWNER,
            pid=proc.pid,
            actual_ports=actual,
            detail=f"port {port} is held by PID {holder}, which is not this service; do not kill it blindly",
        )
    state = ServiceState.STARTING if record.status is SessionStatus.PENDING else ServiceState.RUNNING
    detail = None if not actual else f"listening on {actual}, not on its port {port}"
    if state is ServiceState.RUNNING:
        detail = detail or f"running but not listening on port {port}"
    return ServiceView(
        name=name, kind="native", port=port, state=state, pid=proc.pid, actual_ports=actual, detail=detail
    )

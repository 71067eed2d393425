"""How a session's docker services look to clients: one view per compose service the session runs,
with its container's state and health, and the expected vs the actually published host port."""

from __future__ import annotations

import ipaddress

from berth.adapters import docker_engine
from berth.domain.errors import BerthError
from berth.domain.models import ServiceState, ServiceView, SessionStatus
from berth.domain.records import SessionRecord
from berth.modes.compose.project import ComposeRecord


def docker_service_views(record: SessionRecord, compose: ComposeRecord, *, live: bool) -> list[ServiceView]:
    services = compose.services
    host = record.endpoint.reach_host
    expected = {name: _expected_ports(record, compose, name) for name in services}
    left_out = [
        _view(
            name, [], ServiceState.NOT_STARTED, detail=f"not started (profile {', '.join(profiles) or '?'})"
        )
        for name, profiles in compose.not_started.items()
    ]
    if record.status is SessionStatus.STOPPED or not live:
        state = {
            SessionStatus.STOPPED: ServiceState.STOPPED,
            SessionStatus.PENDING: ServiceState.STARTING,
            SessionStatus.ACTIVE: ServiceState.RUNNING,
        }[record.status]
        return [_view(name, expected[name], state, host=host) for name in services] + left_out
    try:
        with docker_engine.connect(record.endpoint) as client:
            found = docker_engine.containers(client, compose.selector)
    except BerthError as exc:
        return [
            _view(name, expected[name], ServiceState.UNKNOWN, detail=exc.message, host=host)
            for name in services
        ]
    one_shots = compose.one_shots
    views = [_live_view(record, name, expected[name], found, one_shot=name in one_shots) for name in services]
    return [view.model_copy(update={"host": host}) for view in views] + left_out


def loopback_only(record: SessionRecord, containers: list[docker_engine.Container]) -> list[str]:
    """On a remote engine, the published ports bound to its loopback only: unreachable from here."""
    if record.endpoint.local:
        return []
    return sorted(
        {
            f"{c.service or c.name}: {p.host_ip}:{p.published}"
            for c in containers
            for p in c.publishers
            if _is_loopback(p.host_ip)
        }
    )


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _expected_ports(record: SessionRecord, compose: ComposeRecord, service: str) -> list[int]:
    return [
        record.ports[name]
        for name, p in compose.ports.items()
        if p.service == service and name in record.ports
    ]


def _view(name: str, expected: list[int], state: ServiceState, **extra: object) -> ServiceView:
    return ServiceView.model_validate(
        {"name": name, "kind": "docker", "port": expected[0] if expected else None, "state": state, **extra}
    )


def _live_view(
    record: SessionRecord,
    name: str,
    expected: list[int],
    found: list[docker_engine.Container],
    *,
    one_shot: bool,
) -> ServiceView:
    mine = [c for c in found if c.service == name]
    if not mine:
        state = ServiceState.STARTING if record.status is SessionStatus.PENDING else ServiceState.EXITED
        return _view(
            name, expected, state, detail=f"no container; bring {record.branch} up again to recreate it"
        )
    running = [c for c in mine if c.state == "running"]
    container = (running or mine)[0]
    actual = sorted({p for c in running for p in c.host_ports})
    common = {"container": container.name, "actual_ports": actual, "health": container.health}
    if not running and one_shot and container.exit_code == 0:
        return _view(name, expected, ServiceState.COMPLETED, detail="ran once and completed", **common)
    if not running:
        return _view(
            name,
            expected,
            ServiceState.EXITED,
            detail=f"container {container.name} is {container.state}",
            **common,
        )
    if container.health == "starting":
        return _view(name, expected, ServiceState.STARTING, **common)
    missing = [p for p in expected if p not in actual]
    detail = None
    unreachable = loopback_only(record, running)
    if unreachable:
        detail = (
            f"published on the engine's loopback only ({', '.join(unreachable)}): unreachable from this "
            f"machine; publish it on all addresses to reach it at {record.endpoint.reach_host}"
        )
    elif missing:
        detail = f"publishes {actual or 'no port'}, not its port{'s' if len(missing) > 1 else ''} {missing}"
    elif container.health == "unhealthy":
        detail = f"container {container.name} reports unhealthy"
    return _view(name, expected, ServiceState.RUNNING, detail=detail, **common)

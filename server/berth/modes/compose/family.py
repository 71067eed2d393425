"""What the docker modes (container, hybrid) share behind the mode protocol: an engine and compose
v2 checked before anything is created, a re-up that has work when a native service or a container
is down, and status views of both kinds of service."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from berth.adapters import compose_cli, docker_engine
from berth.adapters.process_table import HostSnapshot
from berth.domain.config import BerthConfig, Mode
from berth.domain.models import ResourceRef, ServiceView
from berth.domain.records import SessionRecord
from berth.modes.compose.project import compose_record
from berth.modes.compose.views import docker_service_views
from berth.modes.context import BringUp, DownStep, PlanStep, Step
from berth.modes.host.up import services_to_start
from berth.modes.host.views import native_service_views


def containers_missing(ctx: BringUp) -> bool:
    """A docker service of the session has no running container."""
    record = compose_record(ctx.session)
    if record is None:
        return False
    with docker_engine.connect() as client:
        running = {
            c.service for c in docker_engine.containers(client, record.selector) if c.state == "running"
        }
    return any(name not in running for name in record.services)


@dataclass(frozen=True)
class ComposeFamily:
    mode: Mode
    up_steps: Sequence[Step]
    down_steps: Sequence[DownStep]
    plan_steps: Sequence[PlanStep] = ()

    def preflight(self, config: BerthConfig) -> None:
        docker_engine.ping()
        compose_cli.find_compose()

    def has_work(self, ctx: BringUp) -> bool:
        return bool(services_to_start(ctx)) or containers_missing(ctx)

    def service_views(self, record: SessionRecord, host: HostSnapshot | None) -> list[ServiceView]:
        compose = compose_record(record)
        docker_ports = set(compose.ports) if compose else set()
        native = {name: port for name, port in record.ports.items() if name not in docker_ports}
        views = native_service_views(record, native, host)
        if compose is not None:
            views += docker_service_views(record, compose, live=host is not None)
        return views

    def shared_resources(self, record: SessionRecord) -> list[ResourceRef]:
        compose = compose_record(record)
        shared = dict.fromkeys(s for g in compose.groups for s in g.shared) if compose else {}
        return [ResourceRef(kind=kind, name=name) for kind, _, name in (s.partition(":") for s in shared)]

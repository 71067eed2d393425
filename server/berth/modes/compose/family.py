"""What the docker modes (container, hybrid) share behind the mode protocol: an engine and compose
v2 checked before anything is created, a re-up that has work when a native service or a container
is down, and status views of both kinds of service."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from berth.adapters import compose_cli, docker_endpoint, docker_engine
from berth.adapters.process_table import HostSnapshot
from berth.domain.config import BerthConfig, Mode
from berth.domain.engine_endpoint import Endpoint
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
    with docker_engine.connect(ctx.endpoint) as client:
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

    def preflight(
        self, config: BerthConfig, *, context: str | None, recorded: SessionRecord | None
    ) -> Endpoint | None:
        """The engine the session runs on: the one recorded at its first up, else resolved with the
        docker CLI's precedence (`--context`, berth.toml `engine`, DOCKER_HOST, ...); it must answer."""
        if recorded is not None and recorded.engine is not None:
            endpoint = recorded.endpoint
        else:
            endpoint = docker_endpoint.resolve(flag=context, configured=config.engine)
        docker_engine.ping(endpoint)
        compose_cli.find_compose()
        return endpoint

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

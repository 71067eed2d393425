"""Bring-up steps for native services: their ports, their processes, their readiness."""

from __future__ import annotations

from berth.adapters import processes, readiness
from berth.adapters.readiness import PortTaken
from berth.domain.config import ServiceConfig
from berth.domain.envnames import process_marker
from berth.domain.ports import port_requests
from berth.domain.records import ProcessRecord
from berth.modes import undo
from berth.modes.common import lease_ports
from berth.modes.context import FALLBACK_SERVICE, BringUp
from berth.modes.host import port_race


def services_to_start(ctx: BringUp) -> list[ServiceConfig]:
    """Native services with a command, narrowed by the request, minus those still running."""
    wanted = ctx.request.services
    running = {name for name, rec in ctx.session.processes.items() if processes.is_alive(rec.identity)}
    return [
        s
        for s in ctx.native_services()
        if s.command and (wanted is None or s.name in wanted) and s.name not in running
    ]


def allocate_native_ports(ctx: BringUp) -> None:
    bases = {svc.name: svc.base_port for svc in ctx.native_services()}
    # a resumed session keeps its ports whenever they are still free
    lease_ports(ctx, port_requests(bases, ctx.port_policy, ctx.request.ports, ctx.session.ports))


def spawn_native_services(ctx: BringUp) -> None:
    env = ctx.process_env()
    for svc in services_to_start(ctx):
        ctx.cancel.check()
        _spawn(ctx, svc, env)


def _spawn(ctx: BringUp, svc: ServiceConfig, env: dict[str, str]) -> None:
    marker = process_marker(ctx.layout.root, ctx.op_id, f"service/{svc.name}")
    log_path = ctx.layout.log_path(ctx.slug, svc.name)
    with ctx.guard.step(undo.kill_processes(marker, f"service {svc.name}")) as handle:
        spawned = processes.spawn(
            str(svc.command), cwd=ctx.worktree, env=env, log_path=log_path, marker=marker
        )
        handle.update(pid=spawned.identity.pid, start_time=spawned.identity.start_time)
    ctx.spawned[svc.name] = spawned
    ctx.session.processes[svc.name] = ProcessRecord(
        service=svc.name,
        pid=spawned.identity.pid,
        start_time=spawned.identity.start_time,
        log_path=str(log_path),
        marker=marker,
    )


def wait_until_ready(ctx: BringUp) -> None:
    """Each started service until it is ready on its own port. One whose port was taken by another
    process before it could bind is moved to another port and restarted (modes/host/port_race.py)."""
    for name in list(ctx.spawned):
        svc = ctx.config.service(name) or FALLBACK_SERVICE
        tried: list[int] = []
        while True:
            port = ctx.session.ports[name]
            tried.append(port)
            try:
                took = readiness.wait_ready(
                    name,
                    ctx.spawned[name],
                    port,
                    svc.ready,
                    cwd=ctx.worktree,
                    env=ctx.process_env(),
                    cancel=ctx.cancel,
                )
            except PortTaken as taken:
                if not port_race.can_move(ctx, svc):
                    raise
                if len(tried) >= port_race.MAX_PORT_TRIES:
                    taken.message += f" (tried ports {', '.join(map(str, tried))})"
                    raise
                port_race.move_port(ctx, svc, taken, tried, len(tried))
                _spawn(ctx, svc, ctx.process_env())
                continue
            ctx.log(f"service {name} ready on port {port} in {took:.2f}s")
            break

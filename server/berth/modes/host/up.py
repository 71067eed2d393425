"""Bring-up steps for native services: their ports, their processes, their readiness."""

from __future__ import annotations

from berth.adapters import processes, readiness
from berth.domain.config import ServiceConfig
from berth.domain.ports import port_requests
from berth.domain.records import ProcessRecord
from berth.modes import undo
from berth.modes.common import lease_ports
from berth.modes.context import FALLBACK_SERVICE, BringUp


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
        marker = f"{ctx.op_id}/service/{svc.name}"
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
    env = ctx.process_env()
    for name, spawned in ctx.spawned.items():
        svc = ctx.config.service(name) or FALLBACK_SERVICE
        port = ctx.session.ports[name]
        took = readiness.wait_ready(
            name, spawned, port, svc.ready, cwd=ctx.worktree, env=env, cancel=ctx.cancel
        )
        ctx.log(f"service {name} ready on port {port} in {took:.2f}s")

"""A native service's port taken between the lease and the bind.

Berth probes a port when it leases it, but something outside the session can take it before the
service binds (on a busy machine the kernel may even hand the number to an outgoing connection). The
service then fails to bind and exits. When its port is now held by a process that is not the
session's, the bring-up leases the next candidate port for that service (the old lease released in
the same transaction, the new one under this operation, whose journalled release undoes it),
rewrites `.env.berth` (its journalled restore still puts back what was there before the operation)
and restarts that service, at most `MAX_PORT_TRIES` ports in all. A fixed port (`--port`) or
`strict_port` is never moved: the error stays PORT_IN_USE."""

from __future__ import annotations

import dataclasses

from berth.adapters import envfile
from berth.adapters.readiness import PortTaken
from berth.domain.config import ServiceConfig
from berth.domain.layout import env_file
from berth.domain.ports import port_request
from berth.modes.common import port_probe
from berth.modes.context import BringUp

MAX_PORT_TRIES = 3
"""Ports tried per service in one bring-up, the leased one included."""


def can_move(ctx: BringUp, svc: ServiceConfig) -> bool:
    return not ctx.config.strict_port and svc.name not in ctx.request.ports


def move_port(ctx: BringUp, svc: ServiceConfig, taken: PortTaken, tried: list[int], attempt: int) -> int:
    """Lease another port for `svc` instead of `taken.port` and rewrite `.env.berth`; returns the new
    port. Raises `taken` itself when no candidate is left."""
    base = port_request(svc.name, svc.base_port, ctx.port_policy, override=None, recorded=None)
    candidates = [p for p in base.candidates if p not in tried]
    if not candidates:
        raise taken
    request = dataclasses.replace(base, nominal=candidates[0], candidates=candidates, strict=False)
    probe, engine = port_probe(ctx, on_engine=False)
    new = ctx.store.move_lease(ctx.slug, ctx.op_id, request, taken.port, probe, engine=engine)
    ctx.session.ports[svc.name] = new
    envfile.write_atomically(env_file(ctx.worktree), envfile.render(ctx.generated_env()))
    note = (
        f"port {taken.port} of service {svc.name} was taken by PID {taken.holder} (not this session's) "
        f"before the service could bind it; leased port {new} instead, rewrote .env.berth, restarting "
        f"{svc.name} (port {attempt + 1} of at most {MAX_PORT_TRIES})"
    )
    ctx.log(note)
    ctx.progress_note(f"{svc.name} moved from port {taken.port} to {new}")
    return new

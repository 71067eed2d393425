"""The handler of every `berth/*` method: validate, resolve the root, run one engine call off the
event loop, return its result. `build_server` registers them from the protocol's method table."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel

from berth.domain.errors import BerthError
from berth.domain.models import RecoveryReport, SessionView, TeardownReceipt
from berth.domain.slug import slug_for_branch
from berth.frontends.rpc.app import BerthApp
from berth.frontends.rpc.connection import BerthServer
from berth.frontends.rpc.glue import register_method
from berth.frontends.rpc.progress import Operation, event_sink
from berth.frontends.rpc.protocol import (
    METHODS,
    BranchCheck,
    CheckBranchParams,
    DownParams,
    ListParams,
    RecoverParams,
    SessionsResult,
    StatusParams,
    UpParams,
)
from berth.lifecycle.engine import DownRequest, Engine, UpRequest


async def _engine(ls: BerthServer, root: str | None) -> Engine:
    ls.require_ready()
    return await ls.app.engine(await ls.resolve_root(root))


async def handle_up(ls: BerthServer, p: UpParams) -> SessionView:
    engine = await _engine(ls, p.root)
    request = UpRequest(branch=p.branch, reuse_worktree=p.reuse_worktree, ports=p.ports, services=p.services)
    async with Operation(ls, f"Berth: up {p.branch}", p.work_done_token) as op:
        sink = op.sink()
        return await ls.run_engine(lambda: engine.up(request, op.cancel, sink), op.cancel)


async def handle_down(ls: BerthServer, p: DownParams) -> TeardownReceipt:
    engine = await _engine(ls, p.root)
    request = DownRequest(
        slug=p.slug,
        keep_worktree=p.keep_worktree,
        keep_volumes=p.keep_volumes,
        keep_images=p.keep_images,
        force=p.force,
    )
    async with Operation(ls, f"Berth: down {p.slug}", p.work_done_token) as op:
        sink = op.sink()
        return await ls.run_engine(lambda: engine.down(request, op.cancel, sink), op.cancel)


async def handle_status(ls: BerthServer, p: StatusParams) -> SessionsResult:
    engine = await _engine(ls, p.root)
    return SessionsResult(sessions=await ls.run_blocking(lambda: engine.status(p.slug)))


async def handle_list(ls: BerthServer, p: ListParams) -> SessionsResult:
    engine = await _engine(ls, p.root)
    return SessionsResult(sessions=await ls.run_blocking(engine.list_sessions))


async def handle_recover(ls: BerthServer, p: RecoverParams) -> RecoveryReport:
    engine = await _engine(ls, p.root)
    sink = event_sink(ls)
    return await ls.run_blocking(lambda: engine.recover(sink))


async def handle_check_branch(ls: BerthServer, p: CheckBranchParams) -> BranchCheck:
    """The server's branch rules, for a client validating what a user types."""
    ls.require_ready()
    try:
        return BranchCheck(branch=p.branch, valid=True, slug=slug_for_branch(p.branch))
    except BerthError as exc:
        return BranchCheck(branch=p.branch, valid=False, problem=exc.message)


Handler = Callable[[BerthServer, Any], Awaitable[BaseModel]]

HANDLERS: dict[str, Handler] = {
    "berth/up": handle_up,
    "berth/down": handle_down,
    "berth/status": handle_status,
    "berth/list": handle_list,
    "berth/recover": handle_recover,
    "berth/checkBranch": handle_check_branch,
}


def build_server(app: BerthApp) -> BerthServer:
    server = BerthServer(app)
    for name, (params, _result) in METHODS.items():
        register_method(server, name, params, HANDLERS[name])
    app.connections.add(server)
    return server

"""The handler of every `berth/*` method: resolve the root, run one engine call off the event loop,
return its result. Imported on the first request (server.py registers the methods by name)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from berth.domain.errors import BerthError
from berth.domain.models import (
    DoctorReport,
    DownPlan,
    PruneReport,
    RecoveryReport,
    SessionView,
    TeardownReceipt,
)
from berth.domain.slug import slug_for_branch
from berth.frontends.rpc.connection import BerthServer
from berth.frontends.rpc.glue import Handler, Prebuilt
from berth.frontends.rpc.logs import handle_logs
from berth.frontends.rpc.progress import Operation, event_sink
from berth.frontends.rpc.protocol import (
    METHODS,
    BranchCheck,
    CheckBranchParams,
    DoctorParams,
    DownParams,
    EnvParams,
    EnvResult,
    ListParams,
    PruneParams,
    RecoverParams,
    ShellCommand,
    StatusParams,
    UpParams,
)
from berth.lazy import lazy_attr, lazy_module

if TYPE_CHECKING:
    from pydantic import BaseModel

    from berth.lifecycle import prune
    from berth.lifecycle.doctor import diagnose
    from berth.lifecycle.engine import DownRequest, Engine, UpRequest
    from berth.lifecycle.session_env import session_env, shell_command
else:  # loaded on first use, so `initialize` is answered before the engine's modules are imported
    prune = lazy_module("berth.lifecycle.prune")
    diagnose = lazy_attr("berth.lifecycle.doctor", "diagnose")
    DownRequest = lazy_attr("berth.lifecycle.engine", "DownRequest")
    UpRequest = lazy_attr("berth.lifecycle.engine", "UpRequest")
    session_env = lazy_attr("berth.lifecycle.session_env", "session_env")
    shell_command = lazy_attr("berth.lifecycle.session_env", "shell_command")


async def _engine(ls: BerthServer, root: str | None) -> Engine:
    ls.require_ready()
    return await ls.app.engine(await ls.resolve_root(root))


async def handle_up(ls: BerthServer, p: UpParams) -> SessionView:
    engine = await _engine(ls, p.root)
    request = UpRequest(
        branch=p.branch,
        reuse_worktree=p.reuse_worktree,
        ports=p.ports,
        services=p.services,
        context=p.context,
    )
    async with Operation(ls, f"Berth: up {p.branch}", p.work_done_token) as op:
        sink = op.sink()
        return await ls.run_engine(lambda: engine.up(request, op.cancel, sink), op.cancel)


async def handle_down(ls: BerthServer, p: DownParams) -> TeardownReceipt | DownPlan:
    engine = await _engine(ls, p.root)
    request = DownRequest(
        slug=p.slug,
        keep_worktree=p.keep_worktree,
        keep_volumes=p.keep_volumes,
        keep_images=p.keep_images,
        force=p.force,
    )
    if p.dry_run:  # changes nothing: no operation, no progress
        return await ls.run_blocking(lambda: engine.plan_down(request))
    async with Operation(ls, f"Berth: down {p.slug}", p.work_done_token) as op:
        sink = op.sink()
        return await ls.run_engine(lambda: engine.down(request, op.cancel, sink), op.cancel)


async def handle_status(ls: BerthServer, p: StatusParams) -> Prebuilt:
    """A SessionsResult, built in wire shape (no model validation per service)."""
    engine = await _engine(ls, p.root)
    return Prebuilt.of({"sessions": await ls.run_blocking(lambda: engine.status_wire(p.slug))})


async def handle_list(ls: BerthServer, p: ListParams) -> Prebuilt:
    """A SessionsResult, from the engine's rows cached by state revision (no per-call validation)."""
    engine = await _engine(ls, p.root)
    return Prebuilt.of({"sessions": await ls.run_blocking(engine.list_wire)})


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


async def handle_env(ls: BerthServer, p: EnvParams) -> EnvResult:
    """The session's variables; with `shell`, the terminal a client opens in it (the server's rules:
    the worktree with the session's env, or `docker compose exec SERVICE sh` with a pseudo-TTY)."""
    engine = await _engine(ls, p.root)

    def answer() -> EnvResult:
        found = session_env(engine.ws, p.slug)
        shell = None
        if p.shell or p.service is not None:
            command = shell_command(engine.ws, p.slug, service=p.service, tty=True)
            shell = ShellCommand(
                argv=command.argv if command.service is not None else None,
                cwd=str(command.cwd),
                env=command.overlay,
                service=command.service,
                container=command.container,
            )
        return EnvResult(
            slug=found.slug,
            variables=found.variables,
            env_file=str(found.env_file),
            worktree_path=str(found.worktree),
            shell=shell,
        )

    return await ls.run_blocking(answer)


async def handle_doctor(ls: BerthServer, p: DoctorParams) -> DoctorReport:
    """`berth doctor` for the request's repository: every check, each bounded in time."""
    ls.require_ready()
    root = await ls.resolve_root(p.root)
    return await ls.run_blocking(lambda: diagnose(root))


async def handle_prune(ls: BerthServer, p: PruneParams) -> PruneReport:
    """The prune plan (`dryRun`), or the plan applied and checked: a client asks its user first."""
    engine = await _engine(ls, p.root)
    sink = event_sink(ls)

    def run() -> PruneReport:
        planned = prune.plan(engine, volumes=p.volumes)
        if p.dry_run or planned.empty:
            return planned.report(dry_run=True)
        return prune.apply(engine, planned, sink)

    return await ls.run_blocking(run)


HANDLERS: dict[str, Handler] = {
    "berth/up": handle_up,
    "berth/down": handle_down,
    "berth/status": handle_status,
    "berth/list": handle_list,
    "berth/recover": handle_recover,
    "berth/checkBranch": handle_check_branch,
    "berth/logs": handle_logs,
    "berth/env": handle_env,
    "berth/doctor": handle_doctor,
    "berth/prune": handle_prune,
}


def resolve(name: str) -> tuple[type[BaseModel], Handler]:
    """The params model and the handler of the method `name`."""
    return METHODS[name][0], HANDLERS[name]

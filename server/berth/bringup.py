"""The steps a bring-up is made of. Each step does one thing through an adapter and registers its
inverse with the operation's rollback guard; the modes list which steps they run, in order."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from berth import undo
from berth.adapters import envfile, hooks, ports, processes, readiness
from berth.adapters.processes import MARKER_ENV, SpawnedProcess
from berth.cancel import CancelToken
from berth.compose_project import compose_record
from berth.config import BerthConfig, RunKind, ServiceConfig
from berth.errors import BerthError, ErrorCode
from berth.events import EventSink
from berth.records import ProcessRecord, SessionRecord
from berth.rollback import RollbackGuard
from berth.store import PortRequest
from berth.workspace import Workspace

FALLBACK_SERVICE = ServiceConfig(name="app", base_port=3000)


@dataclass(frozen=True)
class UpRequest:
    branch: str
    reuse_worktree: bool = False
    ports: dict[str, int] = field(default_factory=dict)
    services: list[str] | None = None


@dataclass
class BringUp:
    """Everything one bring-up knows; steps read and extend it."""

    ws: Workspace
    config: BerthConfig
    request: UpRequest
    session: SessionRecord
    previous: SessionRecord | None
    op_id: str
    guard: RollbackGuard
    cancel: CancelToken
    events: EventSink
    spawned: dict[str, SpawnedProcess] = field(default_factory=dict)
    docker_ports: Callable[[], set[int]] | None = None

    @property
    def slug(self) -> str:
        return self.session.slug

    @property
    def worktree(self) -> Path:
        return Path(self.session.worktree_path)

    def native_services(self) -> list[ServiceConfig]:
        return self.config.native_services or [FALLBACK_SERVICE]

    def services_to_start(self) -> list[ServiceConfig]:
        """Native services with a command, narrowed by the request, minus those still running."""
        wanted = self.request.services
        running = {name for name, rec in self.session.processes.items() if rec.identity.is_alive()}
        return [
            s
            for s in self.native_services()
            if s.command and (wanted is None or s.name in wanted) and s.name not in running
        ]

    def has_work(self) -> bool:
        """A re-up of an active session does something only if a service (native or docker) is down."""
        if self.services_to_start():
            return True
        if compose_record(self.session) is None:
            return False
        from berth import docker_steps  # here, not at the top: docker_steps imports this module

        return docker_steps.containers_missing(self)

    def generated_env(self) -> dict[str, str]:
        env = {
            "BERTH_SLOT": str(self.session.slot),
            "BERTH_SLUG": self.slug,
            "BERTH_MODE": self.session.mode,
        }
        known = {s.name: s for s in self.config.services}
        first_native: int | None = None
        for name, port in self.session.ports.items():
            svc = known.get(name, FALLBACK_SERVICE if name == FALLBACK_SERVICE.name else None)
            if svc is None:  # a compose service published without a [[services]] entry
                env[f"BERTH_{re.sub(r'[^A-Z0-9]', '_', name.upper())}_PORT"] = str(port)
                continue
            env[svc.env_key] = str(port)
            for alias in svc.port_env:
                env[alias] = str(port)
            if svc.run is RunKind.NATIVE and first_native is None:
                first_native = port
        if first_native is not None:
            env["PORT"] = str(first_native)
        return env

    def process_env(self) -> dict[str, str]:
        files = [self.worktree / e.file for e in self.config.inherit_entries]
        files.append(self.worktree / envfile.ENV_FILE_NAME)
        return envfile.merged_env(os.environ, files, self.generated_env())

    def run_hook(self, name: str, *, cwd: Path, env: dict[str, str]) -> None:
        command = getattr(self.config.hooks, name)
        if not command:
            return
        marker = f"{self.op_id}/hook/{name}"
        with self.guard.step(undo.kill_processes(marker, f"what the {name} hook started")):
            hooks.run_hook(
                name,
                command,
                cwd=cwd,
                env={**env, MARKER_ENV: marker},
                cancel=self.cancel,
                on_line=lambda line: self.events.log("info", f"[{self.slug} {name}] {line}"),
            )


Step = tuple[str, Callable[[BringUp], None]]


def pre_up_hook(ctx: BringUp) -> None:
    env = {
        **os.environ,
        "BERTH_SLUG": ctx.slug,
        "BERTH_SLOT": str(ctx.session.slot),
        "BERTH_MODE": ctx.session.mode,
    }
    ctx.run_hook("pre_up", cwd=ctx.ws.root, env=env)


def allocate_native_ports(ctx: BringUp) -> None:
    cfg = ctx.config
    requests: list[PortRequest] = []
    for svc in ctx.native_services():
        override = ctx.request.ports.get(svc.name)
        nominal = ports.nominal_port(svc.base_port, ctx.session.slot, cfg.slot_stride)
        candidates = ports.candidate_ports(
            svc.base_port, ctx.session.slot, cfg.slot_stride, cfg.max_slots, cfg.port_search_range
        )
        recorded = ctx.session.ports.get(svc.name)
        if override is not None:
            requests.append(PortRequest(svc.name, override, [override], strict=True, fixed=True))
        elif recorded is not None:
            # a resumed session keeps its ports whenever they are still free
            requests.append(PortRequest(svc.name, recorded, [recorded, *candidates], strict=False))
        else:
            requests.append(PortRequest(svc.name, nominal, candidates, strict=cfg.strict_port))
    with ctx.guard.step(undo.release_leases(ctx.slug, ctx.op_id)):
        chosen = ctx.ws.store.lease_ports(ctx.slug, ctx.op_id, requests, ports.taken_probe(ctx.docker_ports))
    ctx.session.ports.update(chosen)


def ensure_worktree(ctx: BringUp) -> None:
    wt = ctx.ws.worktrees
    if ctx.previous is not None:
        path = Path(ctx.previous.worktree_path)
        if not path.is_dir():
            raise BerthError(
                ErrorCode.WORKTREE_NOT_FOUND,
                f"the worktree of session {ctx.slug!r} is missing at {path}",
                f"run `berth down {ctx.slug}` to clear the stale session, then `berth up {ctx.request.branch}`",
            )
        return
    default = ctx.ws.worktree_path(ctx.config, ctx.slug)
    if ctx.request.reuse_worktree:
        path_or_none = wt.worktree_of_branch(ctx.request.branch)
        if path_or_none is None and default.is_dir() and wt.is_registered(default):
            path_or_none = default
        if path_or_none is None:
            raise BerthError(
                ErrorCode.WORKTREE_NOT_FOUND,
                f"no worktree to reuse: branch {ctx.request.branch!r} is not checked out in any worktree",
                "drop --reuse-worktree to let berth create one",
            )
        _set_worktree(ctx, path_or_none, owned=False)
        return
    if default.exists() or default.is_symlink():
        raise BerthError(
            ErrorCode.WORKTREE_EXISTS,
            f"{default} already exists",
            "pass --reuse-worktree to use it as the session's worktree, or move it away",
        )
    plan = wt.plan(ctx.request.branch)
    with ctx.guard.step(undo.remove_worktree(default, plan.new_branch, plan.start_sha)):
        wt.create(default, plan)
    _set_worktree(ctx, default, owned=True)


def _set_worktree(ctx: BringUp, path: Path, *, owned: bool) -> None:
    ctx.session.worktree_path = str(path)
    ctx.session.worktree_owned = owned
    ctx.session.env_file = str(path / envfile.ENV_FILE_NAME)


def inherit_env_files(ctx: BringUp) -> None:
    # not undone: the files vanish with a fresh worktree, and a reused one keeps real files untouched
    envfile.inherit(ctx.ws.root, ctx.worktree, ctx.config.inherit_entries)


def write_env_file(ctx: BringUp) -> None:
    path = ctx.worktree / envfile.ENV_FILE_NAME
    previous = path.read_text(encoding="utf-8") if path.is_file() else None
    with ctx.guard.step(undo.restore_file(path, previous)):
        envfile.write_atomically(path, envfile.render(ctx.generated_env()))


def pre_spawn_hook(ctx: BringUp) -> None:
    ctx.run_hook("pre_spawn", cwd=ctx.worktree, env=ctx.process_env())


def spawn_native_services(ctx: BringUp) -> None:
    env = ctx.process_env()
    for svc in ctx.services_to_start():
        ctx.cancel.check()
        marker = f"{ctx.op_id}/service/{svc.name}"
        log_path = ctx.ws.log_dir(ctx.slug) / f"{svc.name}.log"
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
        took = readiness.wait_ready(
            name, spawned, ctx.session.ports[name], svc.ready, cwd=ctx.worktree, env=env, cancel=ctx.cancel
        )
        ctx.events.log(
            "info", f"[{ctx.slug}] service {name} ready on port {ctx.session.ports[name]} in {took:.2f}s"
        )


def post_up_hook(ctx: BringUp) -> None:
    ctx.run_hook("post_up", cwd=ctx.worktree, env=ctx.process_env())

"""Bring-up steps for a session's compose project.

Each group gets an overlay under ``<root>/.berth/overlays`` and one ``compose up --wait`` of project
``<prefix>_<slug>``. Per group, the overlay's inverse is journalled first and the group's
compose-down inverse second, both before ``compose up`` starts, so a half-failed ``up`` leaves
nothing and the overlay is deleted only once its containers are down."""

from __future__ import annotations

from pathlib import Path

from berth.adapters import compose_cli, docker_engine, envfile
from berth.domain.ports import port_requests
from berth.modes import undo
from berth.modes.common import lease_ports
from berth.modes.compose import overlay
from berth.modes.compose.plan import load_compose, record_of, relative_name
from berth.modes.compose.project import ComposeGroup, ComposeRecord, compose_record
from berth.modes.compose.undo import compose_down
from berth.modes.context import BringUp

DEFAULT_WAIT_SECONDS = 120.0


def allocate_docker_ports(ctx: BringUp) -> None:
    record = record_of(ctx)
    bases = {name: target.base for name, target in record.ports.items()}
    requests = port_requests(bases, ctx.port_policy, ctx.request.ports, ctx.session.ports)
    previous = compose_record(ctx.previous) if ctx.previous is not None else None
    for stale in set(previous.ports if previous else ()) - set(record.ports):
        ctx.session.ports.pop(stale, None)
    lease_ports(ctx, requests)


def start_containers(ctx: BringUp) -> None:
    record, root = record_of(ctx), ctx.layout.root
    cli = compose_cli.find_compose()
    env = ctx.process_env()
    selector = record.selector
    with docker_engine.connect() as client:
        before = docker_engine.containers(client, selector)
        existing_volumes = docker_engine.volumes(client, selector)
    fresh = ctx.previous is None
    # a re-up spares what was already there; a fresh session spares volumes kept by an earlier down
    spare_containers = [] if fresh else [c.id for c in before]
    spare_volumes = existing_volumes if fresh else []
    for index, group in enumerate(record.groups, start=1):
        ctx.cancel.check()
        base = load_compose(Path(group.compose), ctx.worktree)
        needs = [
            overlay.PortNeed(name, p.service, p.target, p.base, p.entry)
            for name, p in record.ports.items()
            if p.service in group.services
        ]
        text = overlay.dump(
            overlay.build_overlay(
                base,
                project=record.project,
                services=group.services,
                needs=needs,
                allocated=ctx.session.ports,
                labels=record.labels,
            )
        )
        path = Path(group.overlay)
        path.parent.mkdir(parents=True, exist_ok=True)
        previous = path.read_text(encoding="utf-8") if path.is_file() else None
        with ctx.guard.step(undo.restore_file(path, previous)):
            envfile.write_atomically(path, text)
        marker = f"{ctx.op_id}/compose/{index}"
        inverse = compose_down(
            project=record.project,
            root=root,
            files=group.files,
            services=group.services,
            remove_volumes=fresh,
            spare_containers=spare_containers,
            spare_volumes=spare_volumes,
            marker=marker,
        )
        with ctx.guard.step(inverse):
            _compose_up(ctx, cli, record=record, group=group, env=env, marker=marker)


def _compose_up(
    ctx: BringUp,
    cli: compose_cli.ComposeCli,
    *,
    record: ComposeRecord,
    group: ComposeGroup,
    env: dict[str, str],
    marker: str,
) -> None:
    timeouts = [s.ready.timeout for s in ctx.config.docker_services if s.name in group.services]
    wait = max(timeouts) if timeouts else DEFAULT_WAIT_SECONDS
    args = ["up", "-d", "--wait", "--wait-timeout", str(int(wait)), *(group.start or [])]
    name = relative_name(Path(group.compose), ctx.worktree)
    ctx.log(f"docker compose up {name} (project {record.project})")
    result = compose_cli.run(
        cli,
        record.project,
        group.files,
        args,
        cwd=group.project_dir,
        env=env,
        cancel=ctx.cancel,
        on_line=lambda line: ctx.log(line, source="compose"),
        marker=marker,
    )
    compose_cli.check(
        result,
        f"docker compose up of {name} (project {record.project})",
        "see the compose output above; everything this operation created was rolled back",
    )

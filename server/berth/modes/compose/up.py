"""Bring-up steps for a session's compose project.

Each group gets its session file (compose's model of the user's files, rewritten per session) and
one ``compose up --wait`` of project ``<prefix>_<slug>``. Per group, the session file's inverse is
journalled first and the group's compose-down inverse second, both before ``compose up`` starts, so
a half-failed ``up`` leaves nothing and the file is deleted only once its containers are down.
After ``up`` the engine is asked whether every leased port is really published."""

from __future__ import annotations

from pathlib import Path

from berth.adapters import compose_cli, docker_engine, envfile
from berth.domain.envnames import process_marker
from berth.domain.errors import BerthError, ErrorCode
from berth.domain.layout import find_compose_file
from berth.domain.ports import port_request
from berth.modes import undo
from berth.modes.common import lease_ports
from berth.modes.compose import port_race
from berth.modes.compose.model import ComposeModel, ComposeModelError
from berth.modes.compose.plan import profiles, record_of, relative_name, subnet_candidates
from berth.modes.compose.project import RESOURCE_KEY, ComposeGroup, ComposeRecord, compose_record
from berth.modes.compose.session_file import render, session_compose
from berth.modes.compose.undo import compose_down
from berth.modes.compose.views import loopback_only
from berth.modes.context import BringUp


def allocate_docker_ports(ctx: BringUp) -> None:
    """Lease a host port (or block) for every port the plan publishes, and a subnet for every
    network whose subnet the file fixes."""
    record = record_of(ctx)
    policy = ctx.port_policy
    own: dict[str, set[int]] = {}  # the host ports the files themselves publish, by protocol
    for need in record.ports.values():
        own.setdefault(need.protocol, set()).update(range(need.base, need.base + need.width))
    requests = [
        port_request(
            name,
            p.base,
            policy,
            override=ctx.request.ports.get(name),
            recorded=ctx.session.ports.get(name),
            protocol=p.protocol,  # type: ignore[arg-type]
            width=p.width,
            avoid=own.get(p.protocol, set()),
        )
        for name, p in record.ports.items()
    ]
    previous = compose_record(ctx.previous) if ctx.previous is not None else None
    for stale in set(previous.ports if previous else ()) - set(record.ports):
        ctx.session.ports.pop(stale, None)
    lease_ports(ctx, requests, on_engine=True)
    wanted = [
        (key, subnet_candidates(subnet, policy.slot, policy.max_slots))
        for group in record.groups
        for key, subnet in group.fixed_subnets.items()
    ]
    if wanted:
        with docker_engine.connect(ctx.endpoint) as client:
            in_use = docker_engine.network_subnets(client, excluding=record.selector)
        with ctx.guard.step(undo.release_leases(ctx.slug, ctx.op_id)):
            chosen = ctx.store.lease_subnets(ctx.slug, ctx.op_id, wanted, in_use)
        record = record.model_copy(update={"subnets": chosen})
        ctx.session.resources[RESOURCE_KEY] = record.model_dump(mode="json")


def start_containers(ctx: BringUp) -> None:
    record, root = record_of(ctx), ctx.layout.root
    cli = compose_cli.find_compose()
    env = ctx.process_env()
    selector = record.selector
    with docker_engine.connect(ctx.endpoint) as client:
        before = docker_engine.containers(client, selector)
        existing_volumes = docker_engine.volumes(client, selector)
    fresh = ctx.previous is None
    # a re-up spares what was already there; a fresh session spares volumes kept by an earlier down
    spare_containers = [] if fresh else [c.id for c in before]
    spare_volumes = existing_volumes if fresh else []
    for index, group in enumerate(record.groups, start=1):
        ctx.cancel.check()
        path = Path(group.session_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        previous = path.read_text(encoding="utf-8") if path.is_file() else None
        with ctx.guard.step(undo.restore_file(path, previous)):
            _write_session_file(ctx, cli, record, group, env)
        marker = process_marker(ctx.layout.root, ctx.op_id, f"compose/{index}")
        inverse = compose_down(
            project=record.project,
            root=root,
            files=group.run_files,
            services=group.services,
            remove_volumes=fresh,
            spare_containers=spare_containers,
            spare_volumes=spare_volumes,
            marker=marker,
            label=group_label(group, ctx.worktree),
            endpoint=ctx.endpoint,
        )
        with ctx.guard.step(inverse):
            tried: dict[str, list[int]] = {}
            for attempt in range(1, port_race.MAX_PORT_TRIES + 1):
                try:
                    _compose_up(ctx, cli, record=record, group=group, env=env, marker=marker)
                    break
                except BerthError as exc:  # a port taken after its lease: lease another, up again
                    names = port_race.names_to_move(ctx, record, group, port_race.conflicting_ports(exc))
                    if not names or attempt == port_race.MAX_PORT_TRIES:
                        raise
                    port_race.move_ports(ctx, record, names, tried, attempt)
                    env = ctx.process_env()
                    _write_session_file(ctx, cli, record, group, env)
    verify_published(ctx, record)


def _write_session_file(
    ctx: BringUp, cli: compose_cli.ComposeCli, record: ComposeRecord, group: ComposeGroup, env: dict[str, str]
) -> None:
    """The group's session compose file: compose's model with the session's env, its leased ports."""
    model = _final_model(ctx, cli, record, group, env)
    data = session_compose(
        model,
        record=record,
        group=group,
        allocated=ctx.session.ports,
        worktree=ctx.worktree,
        git_dir=ctx.layout.root / ".git",
    )
    envfile.write_atomically(Path(group.session_file), render(data))


def _final_model(
    ctx: BringUp, cli: compose_cli.ComposeCli, record: ComposeRecord, group: ComposeGroup, env: dict[str, str]
) -> ComposeModel:
    """Compose's model with the session's real environment (its leased ports interpolated)."""
    files = [Path(f) for f in group.files]
    data = compose_cli.config(
        cli,
        record.project,
        files,
        profiles=profiles(ctx),
        cwd=Path(group.project_dir),
        env=env,
        endpoint=ctx.endpoint,
    )
    try:
        model = ComposeModel.parse(data)
    except ComposeModelError as exc:
        raise BerthError(
            ErrorCode.COMPOSE_FILE_INVALID, f"compose's model cannot be used: {exc}", "fix the compose file"
        ) from exc
    if not set(group.services) <= set(model.services):
        raise BerthError(
            ErrorCode.COMPOSE_FILE_INVALID,
            "the compose files define other services once the session's ports are set "
            f"(planned {', '.join(group.services)}; now {', '.join(model.services)})",
            "do not make the set of services depend on BERTH_* variables",
        )
    return model


def _compose_up(
    ctx: BringUp,
    cli: compose_cli.ComposeCli,
    *,
    record: ComposeRecord,
    group: ComposeGroup,
    env: dict[str, str],
    marker: str,
) -> None:
    args = [
        "up",
        "-d",
        "--wait",
        "--wait-timeout",
        str(int(group.wait_seconds + 0.999)),
        *(group.start or []),
    ]
    name = (
        ", ".join(relative_name(Path(f), ctx.worktree) for f in group.files) or "the worktree's compose file"
    )
    ctx.log(f"docker compose up {name} (project {record.project})")
    result = compose_cli.run(
        cli,
        record.project,
        group.run_files,
        args,
        cwd=group.run_dir,
        env=env,
        endpoint=ctx.endpoint,
        cancel=ctx.cancel,
        on_line=lambda line: ctx.log(line, source="compose"),
        marker=marker,
    )
    try:
        compose_cli.check(
            result,
            f"docker compose up of {name} (project {record.project})",
            "see the compose output above; everything this operation created was rolled back",
        )
    except BerthError as exc:
        if exc.code is ErrorCode.COMPOSE_FAILED:
            failing = _failing_services(ctx, record, group)
            if failing:
                exc.message += "\n" + "\n".join(text for _, text in failing)
                exc.details["services"] = [service for service, _ in failing]
        raise


def _failing_services(ctx: BringUp, record: ComposeRecord, group: ComposeGroup) -> list[tuple[str, str]]:
    """Each service of the group that is not up: its state, health and last log lines."""
    out: list[tuple[str, str]] = []
    with docker_engine.connect(ctx.endpoint) as client:
        for c in docker_engine.containers(client, record.selector):
            if c.service not in group.services or (c.service in group.one_shots and c.exit_code == 0):
                continue
            if c.state == "running" and c.health in (None, "healthy"):
                continue
            state = c.state if c.health is None else f"{c.state}, {c.health}"
            tail = docker_engine.log_tail(client, c.id, lines=10) or "(no output)"
            out.append((str(c.service), f"service {c.service} ({state}); last log lines:\n{tail}"))
    return out


def group_label(group: ComposeGroup, worktree: Path) -> str:
    """The user's files of a group, as they would name them."""
    if group.files:
        return ", ".join(relative_name(Path(f), worktree) for f in group.files)
    found = find_compose_file(Path(group.project_dir))
    return found.name if found else "the project's compose file"


def verify_published(ctx: BringUp, record: ComposeRecord) -> None:
    """In no case may `up` succeed with a leased port that nothing publishes."""
    with docker_engine.connect(ctx.endpoint) as client:
        containers = docker_engine.containers(client, record.selector)
    running = [c for c in containers if c.state == "running"]
    unreachable = loopback_only(ctx.session, running)
    if unreachable:
        ctx.events.log(
            "warning",
            f"[{ctx.slug}] published on the loopback of engine {ctx.endpoint.host} only, so unreachable "
            f"from this machine: {', '.join(unreachable)}; publish on all addresses to reach them at "
            f"{ctx.endpoint.reach_host}",
        )
    published = {(c.service, port) for c in running for port in c.published}
    missing: list[str] = []
    for name, p in record.ports.items():
        first = ctx.session.ports.get(name)
        if first is None or p.service in record.one_shots:
            continue
        for port in range(first, first + p.width):
            if (p.service, (port, p.protocol)) not in published:
                missing.append(f"{name} ({p.service}: {port}/{p.protocol})")
    if missing:
        raise BerthError(
            ErrorCode.PORT_NOT_PUBLISHED,
            f"after up, the engine does not publish these leased ports: {', '.join(missing[:8])}",
            "check the service's networks and ports in the compose file; everything this operation "
            "created was rolled back",
            ports=missing,
        )

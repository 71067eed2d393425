"""Planning a session's compose project from compose's own model of the user's files.

For each group of compose files (the project's, or those a docker service names) compose is asked
for its normalised model, run in the session's worktree with the session's environment. From it:
which services run, which of them are one-shots, which profiles leave out, how long `up --wait`
may take, and every host port the session must lease: each published port of every started
service, declared in berth.toml or not, so no session ever publishes a base-file host port."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from berth.adapters import compose_cli, docker_engine
from berth.domain.config import Mode, ServiceConfig
from berth.domain.engine_endpoint import Endpoint
from berth.domain.errors import BerthError, ErrorCode, Remedy, RemedyAction
from berth.domain.ports import nominal_port
from berth.modes.compose.model import ComposeModel, ComposeModelError, healthy_within, is_within
from berth.modes.compose.project import (
    APP_ROLE_LABEL,
    APP_ROLE_VALUE,
    RESOURCE_KEY,
    ComposeGroup,
    ComposeRecord,
    PortRecord,
    compose_record,
    project_name,
)
from berth.modes.compose.session_file import subnet_key
from berth.modes.context import BringUp, generated_env, session_process_env

DEFAULT_WAIT_SECONDS = 120.0
ALL_PROFILES = "*"


def port_needs(
    model: ComposeModel, started: Sequence[str], declared: Mapping[str, int], taken: Iterable[str] = ()
) -> dict[str, PortRecord]:
    """Every host port the started services publish, by port name: one per block of consecutive
    ports.

    A declared service (berth.toml, name -> base_port) gets its primary port on its first port entry
    (a whole block when that entry starts one; with no entry, a new mapping to base_port in the
    container), on the service whose network it shares if it uses `network_mode: service:x`. Every other published block gets a port based on
    the host port the file publishes. A service only on internal networks publishes nothing unless
    it is declared (it is then bridged). Random host ports stay random: they cannot collide."""
    services = model.services
    used = set(taken)
    needs: dict[str, PortRecord] = {}
    primaries: dict[str, tuple[str, int]] = {}  # publishing service -> (declared name, base)
    for name in started:
        if name in declared:
            owner = services[name].shares_network_of or name
            primaries[owner] = (name, declared[name])
            used.add(name)

    def unique(name: str) -> str:
        out, n = name, 2
        while out in used:
            out, n = f"{name}-{n}", n + 1
        used.add(out)
        return out

    for name in started:
        spec = services[name]
        if name not in primaries and model.only_on_internal_networks(spec):
            continue
        blocks = spec.blocks
        primary = primaries.get(name)
        if primary is not None:
            port_name, base = primary
            entries = spec.ports
            if blocks and blocks[0].first.index == 0:
                first, width = blocks[0].first, blocks[0].width
                blocks = blocks[1:]
            elif entries:  # its first entry publishes a random port: the session's port replaces it
                first, width = entries[0], 1
            else:
                needs[port_name] = PortRecord(service=name, target=base, base=base)
                first = None
            if first is not None:
                needs[port_name] = PortRecord(
                    service=name,
                    target=first.target,
                    base=base,
                    entry=first.index,
                    protocol=first.protocol,
                    width=width,
                    host_ip=first.host_ip,
                )
        for block in blocks:
            port = block.first
            suffix = "" if port.protocol == "tcp" else f"-{port.protocol}"
            first_of_service = primary is None and not any(n.service == name for n in needs.values())
            port_name = unique(name + suffix if first_of_service else f"{name}-{port.target}{suffix}")
            assert port.published is not None
            needs[port_name] = PortRecord(
                service=name,
                target=port.target,
                base=port.published,
                entry=port.index,
                protocol=port.protocol,
                width=block.width,
                host_ip=port.host_ip,
            )
    return needs


def wait_seconds(model: ComposeModel, started: Sequence[str], declared: Sequence[ServiceConfig]) -> float:
    """How long `up --wait` may take: berth.toml's readiness timeouts (120 s by default), and never
    less than a started service's own healthcheck needs to decide."""
    configured = [s.ready.timeout for s in declared if s.name in started]
    wait = max(configured) if configured else DEFAULT_WAIT_SECONDS
    for name in started:
        check = model.services[name].healthcheck
        if check is not None:
            wait = max(wait, healthy_within(check))
    return wait


PRIVATE_POOLS = [
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fd00::/8")
]
MAX_SUBNET_CANDIDATES = 64


def fixed_subnets(model: ComposeModel) -> dict[str, str]:
    """The subnets the file fixes for its own networks (external ones are shared, never moved)."""
    out: dict[str, str] = {}
    for key, spec in model.networks.items():
        if spec.get("external"):
            continue
        for index, config in enumerate((spec.get("ipam") or {}).get("config") or []):
            if config.get("subnet"):
                out[subnet_key(key, index)] = str(config["subnet"])
    return out


def shared_resources(
    model: ComposeModel, started: Sequence[str] = (), worktree: str | None = None
) -> list[str]:
    """External networks and volumes: the session uses them as they are, shared with everyone. And
    host paths outside the worktree that started services bind-mount (`../logs`, `/srv/data`, the
    docker socket): every session mounts the same directory."""
    out = [
        f"network:{spec.get('name') or key}" for key, spec in model.networks.items() if spec.get("external")
    ]
    out += [
        f"volume:{spec.get('name') or key}" for key, spec in model.volumes.items() if spec.get("external")
    ]
    if worktree is not None:
        paths = (
            mount.get("source")
            for name in started
            for mount in model.services[name].raw.get("volumes") or []
            if mount.get("type") == "bind"
        )
        out += [f"path:{src}" for src in dict.fromkeys(paths) if src and not is_within(src, worktree)]
    return out


def subnet_candidates(original: str, slot: int, max_slots: int) -> list[str]:
    """Subnets of the same size as `original` in its private range, this slot's first, then
    every max_slots-th one: never the file's own (a plain `docker compose up` may use it)."""
    net = ipaddress.ip_network(original, strict=False)
    pool = next(
        (p for p in PRIVATE_POOLS if p.version == net.version and net.subnet_of(p)),  # type: ignore[arg-type]
        net.supernet(new_prefix=max(0, net.prefixlen - 8)),
    )
    size = net.num_addresses
    count = pool.num_addresses // size
    own = (int(net.network_address) - int(pool.network_address)) // size
    reach = min(count, MAX_SUBNET_CANDIDATES * max(1, max_slots))
    order = [(own + slot + i * max_slots) % count for i in range(reach)]  # this slot's first
    order += [(own + i) % count for i in range(1, reach)]  # then any other of the range
    picks = [k for k in dict.fromkeys(order) if k != own][:MAX_SUBNET_CANDIDATES]
    return [str(ipaddress.ip_network((int(pool.network_address) + k * size, net.prefixlen))) for k in picks]


def hybrid_start(model: ComposeModel, declared: Sequence[ServiceConfig]) -> tuple[list[str], bool]:
    """What hybrid mode starts in compose: the declared docker services, else every service not
    labelled as the app (and whether no service carried the label)."""
    if declared:
        return [s.name for s in declared], False
    start = [n for n, s in model.services.items() if s.labels.get(APP_ROLE_LABEL) != APP_ROLE_VALUE]
    return start, len(start) == len(model.services)


def refuse_unisolatable(model: ComposeModel, started: Sequence[str], source: str) -> None:
    for name in started:
        if model.services[name].network_mode == "host":
            raise BerthError(
                ErrorCode.COMPOSE_UNSUPPORTED,
                f"service {name!r} in {source} uses `network_mode: host`: it shares the machine's ports, "
                "so two sessions of it cannot run side by side",
                "put it under a profile that sessions do not enable, or remove network_mode: host; "
                "nothing was started",
                remedies=(Remedy(RemedyAction.EDIT_CONFIG, {"key": "profiles"}),),
                service=name,
            )


# -- the plan step ------------------------------------------------------------------------------------
def plan_compose(ctx: BringUp) -> None:
    """Ask compose for the model of each group of files and decide services, ports and waits."""
    endpoint = ctx.endpoint
    ctx.docker_ports = lambda: docker_engine.published_ports(endpoint)
    config = ctx.config
    mode = ctx.session.mode
    if mode is Mode.CONTAINER and config.native_services:
        ctx.events.log(
            "warning",
            f"[{ctx.slug}] container mode runs only compose; native services are ignored: "
            + ", ".join(s.name for s in config.native_services),
        )
    cli = compose_cli.find_compose()
    project = project_name(config.prefix, ctx.slug)
    env = planning_env(ctx)
    taken = {s.name for s in config.native_services} | ({"app"} if mode is Mode.HYBRID else set())
    owner: dict[str, str] = {}
    groups: list[ComposeGroup] = []
    ports: dict[str, PortRecord] = {}
    for index, (files, declared) in enumerate(_groups(ctx).items(), start=1):
        paths = [_compose_path(ctx, f) for f in files]
        project_dir = paths[0].parent if paths else ctx.worktree
        source = ", ".join(relative_name(p, ctx.worktree) for p in paths) or "the worktree's compose file"
        model, everything = _models(
            cli, project, paths, profiles(ctx), project_dir=project_dir, env=env, endpoint=endpoint
        )
        services = model.services
        for svc in declared:
            if svc.name not in services:
                raise _invalid(
                    f"docker service {svc.name!r} is not a service of {source} "
                    f"(it defines: {', '.join(services) or 'none with the active profiles'})",
                    "name the [[services]] entry after its compose service, or point `compose` at the "
                    "right file",
                )
        if mode is Mode.CONTAINER:
            start, started = None, list(services)
        else:
            hybrid, unlabelled = hybrid_start(model, declared)
            if unlabelled:
                ctx.events.log(
                    "warning",
                    f"[{ctx.slug}] no compose service is labelled {APP_ROLE_LABEL}={APP_ROLE_VALUE}; "
                    "hybrid mode runs all of them in docker",
                )
            start, started = hybrid, model.with_dependencies(hybrid)
        refuse_unisolatable(model, started, source)
        for name in started:
            if owner.setdefault(name, source) != source:
                raise _invalid(
                    f"compose service {name!r} is defined in both {owner[name]} and {source}; both "
                    "groups share the session's compose project",
                    "rename one of them",
                )
        needs = port_needs(model, started, {s.name: s.base_port for s in declared}, taken)
        taken |= set(needs)
        ports.update(needs)
        shared = shared_resources(model, started, str(ctx.worktree))
        outside = [s.partition(":")[2] for s in shared if s.startswith("path:")]
        if outside:
            ctx.log(f"bind mounts outside the worktree are shared by every session: {', '.join(outside)}")
        bridged = [s for s in (svc.name for svc in declared) if model.only_on_internal_networks(services[s])]
        for name in bridged:
            ctx.log(
                f"service {name} is only on internal networks: a session bridge network publishes its port"
            )
        groups.append(
            ComposeGroup(
                files=[str(p) for p in paths],
                project_dir=str(project_dir),
                profiles=profiles(ctx),
                session_file=str(ctx.layout.session_compose_path(ctx.slug, index)),
                services=started,
                start=start,
                one_shots=model.one_shots(started),
                not_started={
                    n: list(s.raw.get("profiles") or [])
                    for n, s in everything.services.items()
                    if n not in services
                },
                wait_seconds=wait_seconds(model, started, declared),
                fixed_subnets=fixed_subnets(model),
                shared=shared,
                bridged=bridged,
            )
        )
    record = ComposeRecord(
        project=project, root=str(ctx.layout.root), op=_label_op(ctx, project), groups=groups, ports=ports
    )
    ctx.session.resources[RESOURCE_KEY] = record.model_dump(mode="json")


def profiles(ctx: BringUp) -> list[str]:
    """berth.toml's profiles and those COMPOSE_PROFILES enables, as compose would combine them."""
    extra = [p.strip() for p in os.environ.get("COMPOSE_PROFILES", "").split(",") if p.strip()]
    return list(dict.fromkeys([*ctx.config.profiles, *extra]))


def planning_env(ctx: BringUp) -> dict[str, str]:
    """The session's environment before its ports are leased: recorded ports, else each declared
    service's nominal port, so a compose file may already interpolate `${BERTH_<NAME>_PORT}`."""
    guessed = dict(ctx.session.ports)
    policy = ctx.port_policy
    for svc in ctx.config.services:
        guessed.setdefault(svc.name, nominal_port(svc.base_port, policy.slot, policy.stride))
    session = ctx.session.model_copy(update={"ports": guessed})
    inherited = [e.file for e in ctx.config.inherit_entries]
    return session_process_env(ctx.worktree, inherited, generated_env(session, ctx.config))


def _models(
    cli: compose_cli.ComposeCli,
    project: str,
    paths: list[Path],
    active: list[str],
    *,
    project_dir: Path,
    env: Mapping[str, str],
    endpoint: Endpoint,
) -> tuple[ComposeModel, ComposeModel]:
    """The model with the active profiles, and with every profile (to say what profiles leave out);
    both asked at once. The second is only read for its services' names and profiles, and is asked
    without compose's consistency check: alternative profiles may well reuse one `container_name`
    (a cpu and a gpu variant of a service), which only a model of every profile at once would break."""

    def ask(chosen: list[str]) -> ComposeModel:
        data = compose_cli.config(
            cli,
            project,
            paths,
            profiles=chosen,
            cwd=project_dir,
            env=env,
            endpoint=endpoint,
            consistent=chosen != [ALL_PROFILES],
        )
        try:
            return ComposeModel.parse(data)
        except ComposeModelError as exc:
            raise _invalid(
                f"compose's model of {project_dir} cannot be used: {exc}", "fix the compose file"
            ) from exc

    with ThreadPoolExecutor(max_workers=2) as pool:
        active_model = pool.submit(ask, active)
        everything = pool.submit(ask, [ALL_PROFILES])
        return active_model.result(), everything.result()


def _groups(ctx: BringUp) -> dict[tuple[str, ...], list[ServiceConfig]]:
    """Declared docker services by the compose files they are in (the project's files by default)."""
    project_files = ctx.config.compose_files
    groups: dict[tuple[str, ...], list[ServiceConfig]] = {}
    for svc in ctx.config.docker_services:
        files = svc.compose_files
        groups.setdefault(project_files if files is None else files, []).append(svc)
    return groups or {project_files: []}


def _compose_path(ctx: BringUp, name: str) -> Path:
    worktree = ctx.worktree
    if Path(name).is_absolute():
        raise _invalid(
            f"compose file {name!r} is an absolute path", "use a path relative to the repository root"
        )
    path = (worktree / name).resolve()
    if not path.is_relative_to(worktree.resolve()):
        raise _invalid(
            f"compose file {name!r} resolves outside the worktree ({path})",
            "keep compose files inside the repository",
        )
    if not path.is_file():
        raise _invalid(
            f"compose file {name!r} is not in the session's worktree {worktree}",
            "commit it on the session's branch (the worktree has only committed files)",
        )
    return path


def relative_name(path: Path, worktree: Path) -> str:
    try:
        return str(path.relative_to(worktree.resolve()))
    except ValueError:
        return str(path)


def _label_op(ctx: BringUp, project: str) -> str:
    """Keep the berth.op label stable across re-ups: compose recreates anything whose labels change."""
    previous = compose_record(ctx.previous) if ctx.previous is not None else None
    selector = docker_engine.session_labels(project, str(ctx.layout.root))
    with docker_engine.connect(ctx.endpoint) as client:
        _refuse_foreign_project(client, project, str(ctx.layout.root))
        if previous is not None and previous.project == project:
            return previous.op
        for name in docker_engine.volumes(client, selector):  # kept by an earlier `down --keep-volumes`
            if op := docker_engine.volume_labels(client, name).get(docker_engine.OP_LABEL):
                return op
    return ctx.op_id


def _refuse_foreign_project(client: Any, project: str, root: str) -> None:
    project_filter = [f"{docker_engine.PROJECT_LABEL}={project}"]
    foreign = [
        c.name
        for c in docker_engine.containers(client, project_filter)
        if c.labels.get(docker_engine.ROOT_LABEL) != root
    ]
    if foreign:
        raise BerthError(
            ErrorCode.PROJECT_CONFLICT,
            f"compose project {project!r} already has containers Berth did not start for this repository "
            f"({', '.join(foreign[:5])})",
            "take that project down, or set a different `prefix` in berth.toml; nothing was changed",
            remedies=(Remedy(RemedyAction.EDIT_CONFIG, {"key": "prefix"}),),
            project=project,
            containers=foreign,
        )


def _invalid(message: str, hint: str) -> BerthError:
    return BerthError(
        ErrorCode.COMPOSE_FILE_INVALID, message, hint + "; everything this operation created was rolled back"
    )


def record_of(ctx: BringUp) -> ComposeRecord:
    record = compose_record(ctx.session)
    assert record is not None, "plan_compose runs first"
    return record

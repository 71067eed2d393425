"""Bring-up and teardown steps for a session's docker services.

Services are grouped by compose file. Each group gets an overlay under ``<root>/.berth/overlays`` and
one ``compose up --wait`` of project ``<prefix>_<slug>``. Per group, the overlay's inverse is
journalled first and the group's compose-down inverse second, both before ``compose up`` starts, so a
half-failed ``up`` leaves nothing and the overlay is deleted only once its containers are down.
Teardown is in docker_teardown.py."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from berth import undo
from berth.adapters import compose, docker_engine, envfile, overlay, ports
from berth.bringup import BringUp
from berth.compose_project import (
    APP_ROLE_LABEL,
    APP_ROLE_VALUE,
    RESOURCE_KEY,
    ComposeGroup,
    ComposeRecord,
    PortRecord,
    compose_record,
    project_name,
)
from berth.config import BerthConfig, Mode, ServiceConfig
from berth.errors import BerthError, ErrorCode
from berth.store import PortRequest

ROOT_COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
DEFAULT_WAIT_SECONDS = 120.0


def preflight(config: BerthConfig) -> None:
    """Before anything is created: an engine answers and compose v2 is installed."""
    docker_engine.ping()
    compose.find_compose()


# -- planning -----------------------------------------------------------------------------------------
def plan_compose(ctx: BringUp) -> None:
    """Read the worktree's compose files and decide groups, services and the host ports they need."""
    ctx.docker_ports = docker_engine.published_ports
    config, worktree = ctx.config, ctx.worktree
    mode = Mode(ctx.session.mode)
    declared = config.docker_services
    by_file: dict[Path, list[ServiceConfig]] = {}
    if declared:
        for svc in declared:
            by_file.setdefault(_compose_path(worktree, svc), []).append(svc)
    else:
        by_file[_root_compose(worktree)] = []
    taken = {s.name for s in config.native_services} | ({"app"} if mode is Mode.HYBRID else set())
    if mode is Mode.CONTAINER and config.native_services:
        ctx.events.log(
            "warning",
            f"[{ctx.slug}] container mode runs only compose; native services are ignored: "
            + ", ".join(s.name for s in config.native_services),
        )
    owner: dict[str, Path] = {}
    groups: list[ComposeGroup] = []
    port_records: dict[str, PortRecord] = {}
    for index, (path, services) in enumerate(by_file.items(), start=1):
        base = _load(path, worktree)
        start, scope = _scope(ctx, mode, path, base, services)
        for name in scope:
            if name in owner and owner[name] != path:
                raise _invalid(
                    f"compose service {name!r} is defined in both {_rel(owner[name], worktree)} and "
                    f"{_rel(path, worktree)}; both groups share the session's compose project",
                    "rename one of them",
                )
            owner[name] = path
        try:
            needs = overlay.port_needs(base, scope, {s.name: s.base_port for s in services}, taken)
        except overlay.ComposeParseError as exc:
            raise _invalid(f"{_rel(path, worktree)}: {exc}", "fix the compose file") from exc
        for need in needs:
            taken.add(need.name)
            port_records[need.name] = PortRecord(
                service=need.service, target=need.target, base=need.base, entry=need.entry
            )
        overlay_path = ctx.ws.state_dir / "overlays" / f"{ctx.slug}-{index}.yml"
        groups.append(ComposeGroup(compose=str(path), overlay=str(overlay_path), services=scope, start=start))
    project = project_name(config.prefix, ctx.slug)
    record = ComposeRecord(
        project=project,
        root=str(ctx.ws.root),
        op=_label_op(ctx, project),
        groups=groups,
        ports=port_records,
    )
    ctx.session.resources[RESOURCE_KEY] = record.model_dump(mode="json")


def _scope(
    ctx: BringUp, mode: Mode, path: Path, base: Mapping[str, Any], declared: list[ServiceConfig]
) -> tuple[list[str] | None, list[str]]:
    """(services named on `up` or None for all, services the overlay covers)."""
    specs: Mapping[str, Any] = base["services"]
    for svc in declared:
        if svc.name not in specs:
            raise _invalid(
                f"docker service {svc.name!r} is not defined in {_rel(path, ctx.worktree)} "
                f"(it defines: {', '.join(specs)})",
                "name the [[services]] entry after its compose service, or point `compose` at the right file",
            )
    if mode is Mode.CONTAINER:
        return None, list(specs)
    if declared:
        start = [s.name for s in declared]
    else:
        start = [name for name, spec in specs.items() if not _is_app(spec)]
        if len(start) == len(specs):
            ctx.events.log(
                "warning",
                f"[{ctx.slug}] no compose service is labelled {APP_ROLE_LABEL}={APP_ROLE_VALUE}; "
                "hybrid mode runs all of them in docker",
            )
    return start, _with_dependencies(specs, start)


def _is_app(spec: Any) -> bool:
    labels = (spec or {}).get("labels") or {}
    if isinstance(labels, list):
        labels = dict(str(item).partition("=")[::2] for item in labels)
    return isinstance(labels, dict) and str(labels.get(APP_ROLE_LABEL)) == APP_ROLE_VALUE


def _with_dependencies(specs: Mapping[str, Any], start: Iterable[str]) -> list[str]:
    """`start` plus everything compose starts with them (depends_on), in the file's order."""
    wanted: set[str] = set()
    todo = list(start)
    while todo:
        name = todo.pop()
        if name in wanted or name not in specs:
            continue
        wanted.add(name)
        deps = (specs[name] or {}).get("depends_on") or []
        todo.extend(deps if isinstance(deps, list) else list(deps))
    return [name for name in specs if name in wanted]


def _compose_path(worktree: Path, svc: ServiceConfig) -> Path:
    if svc.compose is None:
        return _root_compose(worktree)
    if Path(svc.compose).is_absolute():
        raise _invalid(
            f"compose file {svc.compose!r} of service {svc.name!r} is an absolute path",
            "use a path relative to the repository root",
        )
    path = (worktree / svc.compose).resolve()
    if not path.is_relative_to(worktree.resolve()):
        raise _invalid(
            f"compose file {svc.compose!r} of service {svc.name!r} resolves outside the worktree ({path})",
            "keep compose files inside the repository",
        )
    if not path.is_file():
        raise _invalid(
            f"compose file {svc.compose!r} of service {svc.name!r} is not in the session's worktree {worktree}",
            "commit it on the session's branch (the worktree has only committed files)",
        )
    return path


def _root_compose(worktree: Path) -> Path:
    for name in ROOT_COMPOSE_FILES:
        if (worktree / name).is_file():
            return (worktree / name).resolve()
    raise _invalid(
        f"no compose file at the top of the worktree {worktree} (looked for {', '.join(ROOT_COMPOSE_FILES)})",
        'commit one on the session\'s branch, or set `compose = "path"` on the docker [[services]]',
    )


def _load(path: Path, worktree: Path) -> dict[str, Any]:
    try:
        return overlay.parse_compose(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, overlay.ComposeParseError) as exc:
        raise _invalid(f"{_rel(path, worktree)} cannot be used: {exc}", "fix the compose file") from exc


def _label_op(ctx: BringUp, project: str) -> str:
    """Keep the berth.op label stable across re-ups: compose recreates anything whose labels change."""
    previous = compose_record(ctx.previous) if ctx.previous is not None else None
    selector = docker_engine.session_labels(project, str(ctx.ws.root))
    with docker_engine.connect() as client:
        _refuse_foreign_project(client, project, str(ctx.ws.root))
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
            ErrorCode.COMPOSE_FAILED,
            f"compose project {project!r} already has containers Berth did not start for this repository "
            f"({', '.join(foreign[:5])})",
            "take that project down, or set a different `prefix` in berth.toml; nothing was changed",
        )


def _rel(path: Path, worktree: Path) -> str:
    try:
        return str(path.relative_to(worktree.resolve()))
    except ValueError:
        return str(path)


def _invalid(message: str, hint: str) -> BerthError:
    return BerthError(
        ErrorCode.COMPOSE_FILE_INVALID, message, hint + "; everything this operation created was rolled back"
    )


def record_of(ctx: BringUp) -> ComposeRecord:
    record = compose_record(ctx.session)
    assert record is not None, "plan_compose runs first"
    return record


# -- ports --------------------------------------------------------------------------------------------
def allocate_docker_ports(ctx: BringUp) -> None:
    record, cfg = record_of(ctx), ctx.config
    requests: list[PortRequest] = []
    for name, target in record.ports.items():
        override = ctx.request.ports.get(name)
        nominal = ports.nominal_port(target.base, ctx.session.slot, cfg.slot_stride)
        candidates = ports.candidate_ports(
            target.base, ctx.session.slot, cfg.slot_stride, cfg.max_slots, cfg.port_search_range
        )
        recorded = ctx.session.ports.get(name)
        if override is not None:
            requests.append(PortRequest(name, override, [override], strict=True, fixed=True))
        elif recorded is not None:
            requests.append(PortRequest(name, recorded, [recorded, *candidates], strict=False))
        else:
            requests.append(PortRequest(name, nominal, candidates, strict=cfg.strict_port))
    previous = compose_record(ctx.previous) if ctx.previous is not None else None
    for stale in set(previous.ports if previous else ()) - set(record.ports):
        ctx.session.ports.pop(stale, None)
    if not requests:
        return
    with ctx.guard.step(undo.release_leases(ctx.slug, ctx.op_id)):
        chosen = ctx.ws.store.lease_ports(ctx.slug, ctx.op_id, requests, ports.taken_probe(ctx.docker_ports))
    ctx.session.ports.update(chosen)


# -- start --------------------------------------------------------------------------------------------
def start_containers(ctx: BringUp) -> None:
    record, root = record_of(ctx), ctx.ws.root
    cli = compose.find_compose()
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
        base = _load(Path(group.compose), ctx.worktree)
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
        inverse = undo.compose_down(
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
    cli: compose.ComposeCli,
    *,
    record: ComposeRecord,
    group: ComposeGroup,
    env: dict[str, str],
    marker: str,
) -> None:
    timeouts = [s.ready.timeout for s in ctx.config.docker_services if s.name in group.services]
    wait = max(timeouts) if timeouts else DEFAULT_WAIT_SECONDS
    args = ["up", "-d", "--wait", "--wait-timeout", str(int(wait)), *(group.start or [])]
    name = _rel(Path(group.compose), ctx.worktree)
    ctx.events.log("info", f"[{ctx.slug}] docker compose up {name} (project {record.project})")
    result = compose.run(
        cli,
        record.project,
        group.files,
        args,
        cwd=group.project_dir,
        env=env,
        cancel=ctx.cancel,
        on_line=lambda line: ctx.events.log("info", f"[{ctx.slug} compose] {line}"),
        marker=marker,
    )
    compose.check(
        result,
        f"docker compose up of {name} (project {record.project})",
        "see the compose output above; everything this operation created was rolled back",
    )


def containers_missing(ctx: BringUp) -> bool:
    """A re-up has work to do when a docker service of the session has no running container."""
    record = compose_record(ctx.session)
    if record is None:
        return False
    with docker_engine.connect() as client:
        running = {
            c.service for c in docker_engine.containers(client, record.selector) if c.state == "running"
        }
    return any(name not in running for name in record.services)

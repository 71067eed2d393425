"""Planning a session's compose project: which compose files and services it runs, and which host
ports it needs. Reads the worktree's compose files (each session runs its own branch's), refuses a
project name already used by containers Berth does not own, and records the plan in the session."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from berth.adapters import docker_engine
from berth.domain.config import Mode, ServiceConfig
from berth.domain.errors import BerthError, ErrorCode, Remedy, RemedyAction
from berth.domain.layout import COMPOSE_FILE_NAMES, find_compose_file
from berth.modes.compose import overlay
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
from berth.modes.context import BringUp


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
        base = load_compose(path, worktree)
        start, scope = _scope(ctx, mode, path, base, services)
        for name in scope:
            if name in owner and owner[name] != path:
                raise _invalid(
                    f"compose service {name!r} is defined in both {relative_name(owner[name], worktree)} and "
                    f"{relative_name(path, worktree)}; both groups share the session's compose project",
                    "rename one of them",
                )
            owner[name] = path
        try:
            needs = overlay.port_needs(base, scope, {s.name: s.base_port for s in services}, taken)
        except overlay.ComposeParseError as exc:
            raise _invalid(f"{relative_name(path, worktree)}: {exc}", "fix the compose file") from exc
        for need in needs:
            taken.add(need.name)
            port_records[need.name] = PortRecord(
                service=need.service, target=need.target, base=need.base, entry=need.entry
            )
        overlay_path = ctx.layout.overlay_path(ctx.slug, index)
        groups.append(ComposeGroup(compose=str(path), overlay=str(overlay_path), services=scope, start=start))
    project = project_name(config.prefix, ctx.slug)
    record = ComposeRecord(
        project=project,
        root=str(ctx.layout.root),
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
                f"docker service {svc.name!r} is not defined in {relative_name(path, ctx.worktree)} "
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
    found = find_compose_file(worktree)
    if found is not None:
        return found.resolve()
    raise _invalid(
        f"no compose file at the top of the worktree {worktree} (looked for {', '.join(COMPOSE_FILE_NAMES)})",
        'commit one on the session\'s branch, or set `compose = "path"` on the docker [[services]]',
    )


def load_compose(path: Path, worktree: Path) -> dict[str, Any]:
    try:
        return overlay.parse_compose(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, overlay.ComposeParseError) as exc:
        raise _invalid(
            f"{relative_name(path, worktree)} cannot be used: {exc}", "fix the compose file"
        ) from exc


def _label_op(ctx: BringUp, project: str) -> str:
    """Keep the berth.op label stable across re-ups: compose recreates anything whose labels change."""
    previous = compose_record(ctx.previous) if ctx.previous is not None else None
    selector = docker_engine.session_labels(project, str(ctx.layout.root))
    with docker_engine.connect() as client:
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


def relative_name(path: Path, worktree: Path) -> str:
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

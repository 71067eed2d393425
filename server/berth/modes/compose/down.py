"""Teardown step for a session's compose project: every group taken down newest first (the
procedure in compose/undo.py), the overlays removed, and the receipt lists exactly what the engine
says went and what stayed."""

from __future__ import annotations

import os

from berth.adapters import compose_cli, docker_engine
from berth.domain.errors import BerthError, ErrorCode, Remedy, RemedyAction
from berth.domain.models import KeptResource, ResourceRef, SessionStatus
from berth.modes.compose.project import ComposeGroup, ComposeRecord, compose_record
from berth.modes.compose.undo import Sweep, run_compose_down
from berth.modes.context import DownPreview, TearDown


def stop_containers(td: TearDown) -> None:
    """compose down every group (newest first), remove what still carries the session's labels, and
    verify with the engine; volumes stay on a stop (keep worktree) or when asked to keep them."""
    record = compose_record(td.session)
    if record is None:
        return
    td.services_stopped = False
    keep_volumes = td.request.keep_volumes or td.request.keep_worktree
    try:
        cli: compose_cli.ComposeCli | None = compose_cli.find_compose()
    except BerthError as exc:
        cli = None
        td.warn(f"{exc.message}; removing the session's containers through the engine instead")
    sweep = Sweep(selector=record.selector)
    with docker_engine.connect(td.endpoint) as client:
        before = docker_engine.inventory(client, record.selector)
        if cli is not None and td.session.status is not SessionStatus.STOPPED:
            for group in reversed(record.groups):
                _compose_down(td, cli, record, group, keep_volumes=keep_volumes)
        sweep.run(client, remove_volumes=not keep_volumes)
        after = docker_engine.inventory(client, record.selector)
        stuck = docker_engine.unattached_networks(client, after.networks)
    for group in record.groups:
        own = group.own_file
        if own is not None and own.exists():
            own.unlink()
            td.removed.append(ResourceRef(kind="compose file", name=str(own)))
    for kind, was, now in (
        ("container", before.containers, after.containers),
        ("network", before.networks, after.networks),
        ("volume", before.volumes, after.volumes),
        ("image", before.images, after.images),
    ):
        td.removed.extend(ResourceRef(kind=kind, name=name) for name in was if name not in now)
    if keep_volumes:
        reason = (
            "keeping volumes was asked for"
            if td.request.keep_volumes
            else "the session is only stopped (worktree kept); a full down removes them"
        )
        td.kept.extend(KeptResource(kind="volume", name=name, reason=reason) for name in after.volumes)
    if after.images:
        reason = "keeping images was asked for" if td.request.keep_images else "the session is only stopped"
        td.kept.extend(KeptResource(kind="image", name=name, reason=reason) for name in after.images)
    left = after.containers + after.networks + ([] if keep_volumes else after.volumes)
    if left and set(left) == set(stuck):
        raise BerthError(
            ErrorCode.COMPOSE_FAILED,
            f"the engine refuses to remove network(s) {', '.join(stuck)} of compose project {record.project}: "
            "no container is attached, yet it reports active endpoints (a Docker engine bug, moby#43286); "
            "everything else of the session was removed",
            "take the session down again in a few minutes, when the engine has let go of it, or restart "
            "the Docker daemon (e.g. `systemctl restart docker`), which frees it at once",
            remedies=(Remedy(RemedyAction.DOWN, {"slug": td.session.slug}),),
            remaining=left,
            stale_networks=stuck,
        )
    if left:
        raise BerthError(
            ErrorCode.COMPOSE_FAILED,
            f"these resources of compose project {record.project} are still there after teardown: "
            + ", ".join(left),
            "remove them with `docker rm -f` / `docker network rm` / `docker volume rm`, then take the "
            "session down again",
            remedies=(Remedy(RemedyAction.DOWN, {"slug": td.session.slug}),),
            remaining=left,
        )
    td.services_stopped = True


def _compose_down(
    td: TearDown,
    cli: compose_cli.ComposeCli,
    record: ComposeRecord,
    group: ComposeGroup,
    *,
    keep_volumes: bool,
) -> None:
    if not all(f.is_file() for f in group.run_files):
        td.warn(f"{group.own_file} is gone; removing the containers through the engine")
        return
    result = run_compose_down(
        cli,
        record.project,
        group.run_files,
        remove_volumes=not keep_volumes,
        remove_images=not (td.request.keep_images or td.request.keep_worktree),
        env=td.process_env() if td.worktree.is_dir() else dict(os.environ),
        endpoint=td.endpoint,
        cancel=td.cancel,
        on_line=lambda line: td.log(line, source="compose"),
    )
    if result.returncode != 0:
        tail = "; ".join(result.errors[-3:] or result.output[-3:])
        td.warn(f"docker compose down of {group.own_file} failed ({tail}); removing what is left directly")


def plan_containers(p: DownPreview) -> None:
    """What `stop_containers` would remove and keep, from one read of the engine's labelled
    resources (nothing stopped, nothing removed)."""
    record = compose_record(p.session)
    if record is None:
        return
    keep_volumes = p.request.keep_volumes or p.request.keep_worktree
    keep_images = p.request.keep_images or p.request.keep_worktree
    try:
        with docker_engine.connect(p.session.endpoint) as client:
            found = docker_engine.inventory(client, record.selector)
    except BerthError as exc:
        p.warnings.append(f"{exc.message}: the session's containers, networks and volumes cannot be listed")
        return
    p.remove.extend(ResourceRef(kind="container", name=name) for name in found.containers)
    p.remove.extend(ResourceRef(kind="network", name=name) for name in found.networks)
    if keep_volumes:
        reason = (
            "keeping volumes was asked for"
            if p.request.keep_volumes
            else "the session is only stopped (worktree kept); a full down removes them"
        )
        p.keep.extend(KeptResource(kind="volume", name=name, reason=reason) for name in found.volumes)
    else:
        p.remove.extend(ResourceRef(kind="volume", name=name) for name in found.volumes)
    if keep_images:
        reason = "keeping images was asked for" if p.request.keep_images else "the session is only stopped"
        p.keep.extend(KeptResource(kind="image", name=name, reason=reason) for name in found.images)
    else:
        p.remove.extend(ResourceRef(kind="image", name=name) for name in found.images)
    for group in record.groups:
        own = group.own_file
        if own is not None and own.exists():
            p.remove.append(ResourceRef(kind="compose file", name=str(own)))

"""Tearing down a session's compose project: `compose down` of every group, newest first, then the
engine is asked what still carries the session's labels; whatever is left (and not kept on purpose)
is removed through the SDK, and the receipt lists exactly what went and what stayed."""

from __future__ import annotations

import os
from pathlib import Path

from berth.adapters import compose, docker_engine
from berth.compose_project import STOP_TIMEOUT_SECONDS, ComposeGroup, ComposeRecord, compose_record
from berth.errors import BerthError, ErrorCode
from berth.models import KeptResource, ResourceRef, SessionStatus
from berth.teardown import TearDown


def stop_containers(td: TearDown) -> None:
    """compose down every group (newest first), remove what still carries the session's labels, and
    verify with the engine; volumes stay on a stop (--keep-worktree) or with --keep-volumes."""
    record = compose_record(td.session)
    if record is None:
        return
    td.services_stopped = False
    keep_volumes = td.request.keep_volumes or td.request.keep_worktree
    selector = record.selector
    try:
        cli: compose.ComposeCli | None = compose.find_compose()
    except BerthError as exc:
        cli = None
        td.warn(f"{exc.message}; removing the session's containers through the engine instead")
    with docker_engine.connect() as client:
        before = docker_engine.inventory(client, selector)
        if cli is not None and td.session.status is not SessionStatus.STOPPED:
            for group in reversed(record.groups):
                _compose_down(td, cli, record, group, keep_volumes=keep_volumes)
        docker_engine.remove_containers(
            client, docker_engine.containers(client, selector), volumes=not keep_volumes
        )
        docker_engine.remove_unused(client, selector, volumes_too=not keep_volumes, spare=[])
        after = docker_engine.inventory(client, selector)
    for group in record.groups:
        overlay_path = Path(group.overlay)
        if overlay_path.exists():
            overlay_path.unlink()
            td.removed.append(ResourceRef(kind="overlay", name=str(overlay_path)))
    for kind, was, now in (
        ("container", before.containers, after.containers),
        ("network", before.networks, after.networks),
        ("volume", before.volumes, after.volumes),
    ):
        td.removed.extend(ResourceRef(kind=kind, name=name) for name in was if name not in now)
    if keep_volumes:
        reason = (
            "--keep-volumes was given"
            if td.request.keep_volumes
            else "the session is only stopped (--keep-worktree); a full `berth down` removes them"
        )
        td.kept.extend(KeptResource(kind="volume", name=name, reason=reason) for name in after.volumes)
    left = after.containers + after.networks + ([] if keep_volumes else after.volumes)
    if left:
        raise BerthError(
            ErrorCode.COMPOSE_FAILED,
            f"these resources of compose project {record.project} are still there after teardown: "
            + ", ".join(left),
            "remove them with `docker rm -f` / `docker network rm` / `docker volume rm`, then run "
            f"`berth down {td.session.slug}` again",
        )
    td.services_stopped = True


def _compose_down(
    td: TearDown, cli: compose.ComposeCli, record: ComposeRecord, group: ComposeGroup, *, keep_volumes: bool
) -> None:
    files = group.files
    if not all(f.is_file() for f in files):
        td.warn(f"{group.compose} or its overlay is gone; removing the containers through the engine")
        return
    args = ["down", "--timeout", str(STOP_TIMEOUT_SECONDS), *([] if keep_volumes else ["-v"])]
    result = compose.run(
        cli,
        record.project,
        files,
        args,
        cwd=group.project_dir,
        env=dict(td.hook_env() if td.worktree.is_dir() else os.environ),
        cancel=td.cancel,
        on_line=lambda line: td.events.log("info", f"[{td.session.slug} compose] {line}"),
    )
    if result.returncode != 0:
        tail = "; ".join(result.errors[-3:] or result.output[-3:])
        td.warn(f"docker compose down of {group.compose} failed ({tail}); removing what is left directly")

"""`down --dry-run`: what a down would remove and keep, and what should stop a person first,
changing nothing (no operation is reserved, no journal replayed, no hook run, nothing signalled).

The mode's planners (`plan_steps`, next to the teardown steps they predict in modes/*/down.py and
modes/common.py) read the state file, git, the process table and the engine."""

from __future__ import annotations

from berth.domain.config import BerthConfig
from berth.domain.errors import BerthError, ErrorCode, session_not_found
from berth.domain.models import DownPlan, KeptResource, ResourceRef
from berth.domain.slug import resolve_session_ref
from berth.lifecycle.workspace import Workspace
from berth.modes.context import DownPreview, DownRequest
from berth.modes.registry import mode_family


def plan_down(ws: Workspace, request: DownRequest) -> DownPlan:
    slug = resolve_session_ref(request.slug)
    store = ws.store
    warnings: list[str] = []
    try:
        config: BerthConfig | None = ws.config()
    except BerthError as exc:
        config = None
        warnings.append(f"{exc.message}; the down would skip the hooks")
    interrupted = [
        ResourceRef(kind="interrupted operation", name=entry.description)
        for op in store.abandoned_operations()
        if op.slug == slug
        for entry in reversed(store.journal(op.op_id))
        if entry.state.pending
    ]
    session = store.get_session(slug)
    if session is None:
        if not interrupted:
            raise session_not_found(slug)
        # a crashed bring-up: the down only replays its journal
        return DownPlan(slug=slug, status="removed", remove=interrupted, keep=[], warnings=warnings)
    holder = store.operation_on(slug)
    if holder is not None and store.in_flight(holder):
        raise BerthError(
            ErrorCode.SESSION_BUSY,
            f"session {slug!r} has a {holder.kind} operation in flight ({holder.op_id}, pid {holder.owner_pid})",
            "wait for it to finish, then ask again",
            op_id=holder.op_id,
        )
    if interrupted:
        warnings.append(
            "an interrupted operation on the session is rolled back first: "
            + "; ".join(r.name for r in interrupted)
        )
    preview = DownPreview(
        layout=ws.layout,
        store=store,
        worktrees=ws.worktrees,
        config=config,
        request=request,
        session=session,
        warnings=warnings,
    )
    for planner in mode_family(session.mode).plan_steps:  # the recorded mode, as down uses
        planner(preview)
    if preview.keeps_session:
        preview.keep.append(
            KeptResource(
                kind="session",
                name=slug,
                reason=f"its worktree stays: the session is kept as stopped, with slot {session.slot}",
            )
        )
    else:
        preview.remove.append(ResourceRef(kind="session", name=f"{slug} (slot {session.slot})"))
    logs = ws.layout.log_dir(slug)
    if logs.is_dir():
        preview.keep.append(KeptResource(kind="logs", name=str(logs), reason="down keeps the services' logs"))
    return preview.plan()

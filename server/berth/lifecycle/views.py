"""Turning stored sessions into what clients see: cheap (list, from the record) or live (status,
from one snapshot of the host shared by every session, and the engine)."""

from __future__ import annotations

from pathlib import Path

from berth.adapters.git import user_changes
from berth.adapters.process_table import HostSnapshot
from berth.domain.models import SessionView
from berth.domain.records import SessionRecord
from berth.modes.registry import mode_family


def session_view(record: SessionRecord, host: HostSnapshot | None = None) -> SessionView:
    """From the record alone, or live when `host` (one snapshot for many sessions) is given."""
    family = mode_family(record.mode)
    return SessionView(
        slug=record.slug,
        branch=record.branch,
        mode=record.mode,
        slot=record.slot,
        status=record.status,
        worktree_path=record.worktree_path,
        worktree_owned=record.worktree_owned,
        env_file=record.env_file,
        ports=dict(record.ports),
        services=family.service_views(record, host),
        shared=family.shared_resources(record),
        started_at=record.started_at,
        busy=record.op_id is not None,
        engine=record.endpoint.describe() if record.engine is not None else None,
    )


def detailed_view(
    record: SessionRecord, host: HostSnapshot, *, root: Path, inherited: list[str]
) -> SessionView:
    """The live view of one session, with the user's uncommitted changes in its worktree (what a
    full down keeps unless forced)."""
    changes = user_changes(Path(record.worktree_path), root, inherited)
    return session_view(record, host).model_copy(update={"uncommitted_changes": changes})

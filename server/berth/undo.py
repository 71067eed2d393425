"""The undo handlers: one per kind of undo record. Each is idempotent and tolerates a resource that
was only half created, or never created, because a crash may have hit mid-step."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from berth import compose_project
from berth.adapters import processes
from berth.records import ProcessIdentity, SessionRecord
from berth.rollback import UndoRegistry, UndoStep
from berth.workspace import Workspace

FORGET_SESSION = "forget_session"
RESTORE_SESSION = "restore_session"
RELEASE_LEASES = "release_leases"
REMOVE_WORKTREE = "remove_worktree"
KILL_PROCESSES = "kill_processes"
RESTORE_FILE = "restore_file"
COMPOSE_DOWN = "compose_down"


def forget_session(slug: str, op_id: str) -> UndoStep:
    return UndoStep(FORGET_SESSION, {"slug": slug, "op_id": op_id}, f"forget session {slug}")


def restore_session(previous: SessionRecord, op_id: str) -> UndoStep:
    snapshot = previous.model_copy(update={"op_id": op_id}).model_dump(mode="json")
    return UndoStep(RESTORE_SESSION, {"session": snapshot}, f"restore session {previous.slug} as it was")


def release_leases(slug: str, op_id: str) -> UndoStep:
    return UndoStep(
        RELEASE_LEASES, {"slug": slug, "op_id": op_id}, "release the ports leased by this operation"
    )


def remove_worktree(path: Path, new_branch: str | None, branch_start: str | None) -> UndoStep:
    return UndoStep(
        REMOVE_WORKTREE,
        {"path": str(path), "new_branch": new_branch, "branch_start": branch_start},
        f"remove worktree {path}" + (f" and its new branch {new_branch}" if new_branch else ""),
    )


def kill_processes(marker: str, what: str) -> UndoStep:
    return UndoStep(KILL_PROCESSES, {"marker": marker, "pid": None, "start_time": None}, f"stop {what}")


def restore_file(path: Path, previous: str | None) -> UndoStep:
    action = "delete" if previous is None else "restore"
    return UndoStep(RESTORE_FILE, {"path": str(path), "content": previous}, f"{action} {path.name}")


def compose_down(
    *,
    project: str,
    root: Path,
    files: list[Path],
    services: list[str],
    remove_volumes: bool,
    spare_containers: list[str],
    spare_volumes: list[str],
    marker: str,
) -> UndoStep:
    """Take one compose group down: what its `compose up` (even half done) created, and nothing else."""
    args = {
        "project": project,
        "root": str(root),
        "files": [str(f) for f in files],
        "services": services,
        "remove_volumes": remove_volumes,
        "spare_containers": spare_containers,
        "spare_volumes": spare_volumes,
        "marker": marker,
    }
    volumes = "and its volumes" if remove_volumes else "(volumes kept)"
    return UndoStep(COMPOSE_DOWN, args, f"take down compose group {files[0].name} of {project} {volumes}")


def build_registry(ws: Workspace) -> UndoRegistry:
    def _forget(args: Mapping[str, Any]) -> None:
        ws.store.delete_session(args["slug"], op_id=args["op_id"])

    def _restore(args: Mapping[str, Any]) -> None:
        session = SessionRecord.model_validate(args["session"])
        ws.store.save_session(session, op_id=session.op_id)

    def _release(args: Mapping[str, Any]) -> None:
        ws.store.release_leases(args["slug"], args["op_id"])

    def _remove_worktree(args: Mapping[str, Any]) -> None:
        path = Path(args["path"])
        ws.worktrees.remove(path, force=True, purge_unregistered=True)
        if args.get("new_branch") and args.get("branch_start"):
            ws.worktrees.delete_branch_if_unchanged(args["new_branch"], args["branch_start"])

    def _kill(args: Mapping[str, Any]) -> None:
        leaders = [ProcessIdentity(args["pid"], args["start_time"])] if args.get("pid") else []
        processes.stop(leaders, [args["marker"]])

    def _restore_file(args: Mapping[str, Any]) -> None:
        path = Path(args["path"])
        if args["content"] is None:
            path.unlink(missing_ok=True)
        elif path.parent.is_dir():
            path.write_text(args["content"], encoding="utf-8")

    return UndoRegistry(
        {
            FORGET_SESSION: _forget,
            RESTORE_SESSION: _restore,
            RELEASE_LEASES: _release,
            REMOVE_WORKTREE: _remove_worktree,
            KILL_PROCESSES: _kill,
            RESTORE_FILE: _restore_file,
            COMPOSE_DOWN: compose_project.take_down_group,
        }
    )

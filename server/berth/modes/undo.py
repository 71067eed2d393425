"""Undo records and the handlers that perform them, one per kind. Each handler is idempotent and
tolerates a resource that was only half created, or never created, because a crash may have hit
mid-step. The same handlers serve rollback, crash recovery and cancellation."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from berth.adapters import processes
from berth.adapters.git import Worktrees
from berth.domain.records import ProcessIdentity, SessionRecord
from berth.domain.undo import UndoStep
from berth.state.rollback import UndoHandler
from berth.state.store import SessionStore, UndoFor

FORGET_SESSION = "forget_session"
RESTORE_SESSION = "restore_session"
RELEASE_LEASES = "release_leases"
REMOVE_WORKTREE = "remove_worktree"
KILL_PROCESSES = "kill_processes"
RESTORE_FILE = "restore_file"


def forget_session(slug: str, op_id: str) -> UndoStep:
    return UndoStep(FORGET_SESSION, {"slug": slug, "op_id": op_id}, f"forget session {slug}")


def restore_session(previous: SessionRecord, op_id: str) -> UndoStep:
    snapshot = previous.model_copy(update={"op_id": op_id}).model_dump(mode="json")
    return UndoStep(RESTORE_SESSION, {"session": snapshot}, f"restore session {previous.slug} as it was")


def undo_claim(slug: str) -> UndoFor:
    """What undoes the claim of a slug: forget a new session, or put an existing one back as it was."""

    def undo_for(previous: SessionRecord | None, op_id: str) -> UndoStep:
        return forget_session(slug, op_id) if previous is None else restore_session(previous, op_id)

    return undo_for


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


def handlers(store: SessionStore, worktrees: Worktrees) -> dict[str, UndoHandler]:
    """The handlers of the undo kinds above."""

    def _forget(args: Mapping[str, Any]) -> None:
        store.delete_session(args["slug"], op_id=args["op_id"])

    def _restore(args: Mapping[str, Any]) -> None:
        session = SessionRecord.model_validate(args["session"])
        store.save_session(session, op_id=session.op_id)

    def _release(args: Mapping[str, Any]) -> None:
        store.release_leases(args["slug"], args["op_id"])

    def _remove_worktree(args: Mapping[str, Any]) -> None:
        worktrees.remove(Path(args["path"]), force=True, purge_unregistered=True)
        if args.get("new_branch") and args.get("branch_start"):
            worktrees.delete_branch_if_unchanged(args["new_branch"], args["branch_start"])

    def _kill(args: Mapping[str, Any]) -> None:
        leaders = [ProcessIdentity(args["pid"], args["start_time"])] if args.get("pid") else []
        processes.stop(leaders, [args["marker"]])

    def _restore_file(args: Mapping[str, Any]) -> None:
        path = Path(args["path"])
        if args["content"] is None:
            path.unlink(missing_ok=True)
        elif path.parent.is_dir():
            path.write_text(args["content"], encoding="utf-8")

    return {
        FORGET_SESSION: _forget,
        RESTORE_SESSION: _restore,
        RELEASE_LEASES: _release,
        REMOVE_WORKTREE: _remove_worktree,
        KILL_PROCESSES: _kill,
        RESTORE_FILE: _restore_file,
    }

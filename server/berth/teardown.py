"""Tearing a session down: hooks warn, processes stop, the worktree goes only when Berth created it
and it holds no user changes, leases are released, and the receipt says what was kept and why."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import git

from berth.adapters import envfile, hooks, processes
from berth.cancel import CancelToken
from berth.config import BerthConfig
from berth.errors import BerthError
from berth.events import EventSink
from berth.models import KeptResource, ResourceRef, SessionStatus, TeardownReceipt
from berth.records import SessionRecord
from berth.workspace import Workspace


@dataclass(frozen=True)
class DownRequest:
    slug: str
    keep_worktree: bool = False
    keep_volumes: bool = False
    force: bool = False


@dataclass
class TearDown:
    ws: Workspace
    config: BerthConfig | None
    request: DownRequest
    session: SessionRecord
    op_id: str
    cancel: CancelToken
    events: EventSink
    removed: list[ResourceRef] = field(default_factory=list)
    kept: list[KeptResource] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    services_stopped: bool = False

    @property
    def worktree(self) -> Path:
        return Path(self.session.worktree_path)

    def warn(self, text: str) -> None:
        self.warnings.append(text)
        self.events.log("warning", f"[{self.session.slug}] {text}")

    def hook_env(self) -> dict[str, str]:
        generated = {
            "BERTH_SLOT": str(self.session.slot),
            "BERTH_SLUG": self.session.slug,
            "BERTH_MODE": self.session.mode,
            **{
                f"BERTH_{name.upper().replace('-', '_')}_PORT": str(p)
                for name, p in self.session.ports.items()
            },
        }
        return envfile.merged_env(os.environ, [Path(self.session.env_file)], generated)

    def run_warning_hook(self, name: str, cwd: Path) -> None:
        command = getattr(self.config.hooks, name) if self.config else None
        if not command or self.session.status is SessionStatus.STOPPED:
            return
        try:
            hooks.run_hook(
                name,
                command,
                cwd=cwd if cwd.is_dir() else self.ws.root,
                env=self.hook_env(),
                cancel=self.cancel,
                on_line=lambda line: self.events.log("info", f"[{self.session.slug} {name}] {line}"),
            )
        except BerthError as exc:
            self.warn(f"{exc.message} (teardown continued)")

    def receipt(self, status: str) -> TeardownReceipt:
        return TeardownReceipt(
            slug=self.session.slug,
            removed=self.removed,
            kept=self.kept,
            warnings=self.warnings,
            status="stopped" if status == "stopped" else "removed",
        )


def pre_down_hook(td: TearDown) -> None:
    td.run_warning_hook("pre_down", td.worktree)


def stop_native_processes(td: TearDown) -> None:
    records = td.session.processes
    victims = processes.session_processes(
        [p.identity for p in records.values()], [p.marker for p in records.values()]
    )
    processes.terminate(victims)
    victim_pids = {v.pid for v in victims}
    for name, proc in records.items():
        if proc.pid in victim_pids:
            td.removed.append(ResourceRef(kind="process", name=f"{name} (pid {proc.pid})"))
    td.services_stopped = True


def remove_worktree(td: TearDown) -> None:
    path = td.worktree
    if td.request.keep_worktree:
        td.kept.append(KeptResource(kind="worktree", name=str(path), reason="--keep-worktree was given"))
        return
    if not td.session.worktree_owned:
        td.kept.append(
            KeptResource(
                kind="worktree",
                name=str(path),
                reason="berth did not create it (it was reused), so it never deletes it",
            )
        )
        return
    if not path.exists():
        return
    wt = td.ws.worktrees
    if not td.request.force and user_changes(td, path):
        td.kept.append(
            KeptResource(
                kind="worktree",
                name=str(path),
                reason="it has uncommitted changes; commit or stash them, then run down again (or pass --force)",
            )
        )
        return
    # berth's own files (.env.berth, inherited env links) would make git refuse; user changes were checked
    wt.remove(path, force=True)
    td.removed.append(ResourceRef(kind="worktree", name=str(path)))


def user_changes(td: TearDown, path: Path) -> bool:
    """Uncommitted changes other than the files Berth itself put in the worktree."""
    ours = {envfile.ENV_FILE_NAME, envfile.ENV_FILE_NAME + ".tmp"}
    if td.config is not None:
        for entry in td.config.inherit_entries:
            target, source = path / entry.file, td.ws.root / entry.file
            if target.is_symlink() or (
                target.is_file() and source.is_file() and target.read_bytes() == source.read_bytes()
            ):
                ours.add(entry.file)
    try:
        out = git.Repo(path).git.status("--porcelain", "--untracked-files=all", "-z")
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, git.GitCommandError):
        return False
    changed = [item[3:] for item in out.split("\0") if len(item) > 3]
    return any(name not in ours for name in changed)


def release_leases(td: TearDown) -> None:
    released = td.ws.store.release_leases(td.session.slug)
    if released:
        td.removed.append(
            ResourceRef(kind="ports", name=", ".join(f"{n}={p}" for n, p in sorted(td.session.ports.items())))
        )


def post_down_hook(td: TearDown) -> None:
    td.run_warning_hook("post_down", td.ws.root)


DownStep = tuple[str, Callable[[TearDown], None]]

HOST_DOWN_STEPS: list[DownStep] = [
    ("pre_down hook", pre_down_hook),
    ("stop services", stop_native_processes),
    ("remove worktree", remove_worktree),
    ("release ports", release_leases),
    ("post_down hook", post_down_hook),
]

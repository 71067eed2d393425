"""Steps every mode shares: hooks, the worktree, env files, port leases. Each bring-up step does one
thing through an adapter inside `guard.step(<undo record>)`; teardown steps report what they removed
and what they kept, and why."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from berth.adapters import envfile, hooks
from berth.adapters.git import unshared_commits, user_changes, worktree_lock
from berth.adapters.ports import EnginePortProbe, HostPortProbe
from berth.domain.envnames import MARKER_ENV, process_marker, session_identity_env
from berth.domain.errors import BerthError, ErrorCode, Remedy, RemedyAction
from berth.domain.layout import env_file
from berth.domain.models import DownBlocker, KeptResource, RemedyView, ResourceRef, SessionStatus
from berth.domain.ports import PortProbe, PortRequest
from berth.modes import undo
from berth.modes.context import BringUp, DownPreview, TearDown


# -- bring-up -------------------------------------------------------------------------------------
def run_hook(ctx: BringUp, name: str, *, cwd: Path, env: dict[str, str]) -> None:
    """A hook whose failure fails the bring-up; what it leaves running is stopped on rollback."""
    command = getattr(ctx.config.hooks, name)
    if not command:
        return
    marker = process_marker(ctx.layout.root, ctx.op_id, f"hook/{name}")
    with ctx.guard.step(undo.kill_processes(marker, f"what the {name} hook started")):
        hooks.run_hook(
            name,
            command,
            cwd=cwd,
            env={**env, MARKER_ENV: marker},
            cancel=ctx.cancel,
            on_line=lambda line: ctx.log(line, source=name),
        )


def pre_up_hook(ctx: BringUp) -> None:
    env = {**os.environ, **session_identity_env(ctx.slug, ctx.session.slot, ctx.session.mode)}
    run_hook(ctx, "pre_up", cwd=ctx.layout.root, env=env)


def pre_spawn_hook(ctx: BringUp) -> None:
    run_hook(ctx, "pre_spawn", cwd=ctx.worktree, env=ctx.process_env())


def post_up_hook(ctx: BringUp) -> None:
    run_hook(ctx, "post_up", cwd=ctx.worktree, env=ctx.process_env())


def port_probe(ctx: BringUp, *, on_engine: bool) -> tuple[PortProbe, str]:
    """How to tell a port is taken, and the lease key of where it is: this machine (native
    services, and a local engine's ports, which are this machine's), or the session's remote engine
    (`on_engine`: ports its containers publish, on that engine's host)."""
    endpoint = ctx.endpoint
    if on_engine and not endpoint.local:
        published = ctx.docker_ports or set
        return EnginePortProbe(endpoint.host, published), endpoint.lease_key
    return HostPortProbe(None if not endpoint.local else ctx.docker_ports), ""


def lease_ports(ctx: BringUp, requests: Sequence[PortRequest], *, on_engine: bool = False) -> None:
    """Lease one port per request (released again if the bring-up fails); `on_engine`: ports the
    session's Docker engine publishes."""
    if not requests:
        return
    probe, engine = port_probe(ctx, on_engine=on_engine)
    with ctx.guard.step(undo.release_leases(ctx.slug, ctx.op_id)):
        try:
            chosen = ctx.store.lease_ports(ctx.slug, ctx.op_id, requests, probe, engine=engine)
        except BerthError as exc:  # "choose another port" is a re-up of this branch
            exc.remedies = tuple(
                Remedy(r.action, {**r.args, "branch": ctx.request.branch})
                if r.action is RemedyAction.CHOOSE_PORT
                else r
                for r in exc.remedies
            )
            raise
    ctx.session.ports.update(chosen)


def ensure_worktree(ctx: BringUp) -> None:
    wt = ctx.worktrees
    branch = ctx.request.branch
    if ctx.previous is not None:
        path = Path(ctx.previous.worktree_path)
        if not path.is_dir():
            raise BerthError(
                ErrorCode.WORKTREE_NOT_FOUND,
                f"the worktree of session {ctx.slug!r} is missing at {path}",
                "take the stale session down, then bring the branch up again",
                remedies=(
                    Remedy(RemedyAction.DOWN, {"slug": ctx.slug}),
                    Remedy(RemedyAction.UP, {"branch": branch}),
                ),
            )
        return
    default = ctx.layout.worktree_path(ctx.config.worktree_dir, ctx.slug)
    if ctx.request.reuse_worktree:
        path_or_none = wt.worktree_of_branch(branch)
        if path_or_none is None and default.is_dir() and wt.is_registered(default):
            path_or_none = default
        if path_or_none is None:
            raise BerthError(
                ErrorCode.WORKTREE_NOT_FOUND,
                f"no worktree to reuse: branch {branch!r} is not checked out in any worktree",
                "bring it up without reusing a worktree, and berth creates one",
                remedies=(Remedy(RemedyAction.UP, {"branch": branch}),),
            )
        _set_worktree(ctx, path_or_none, owned=False)
        return
    if default.exists() or default.is_symlink():
        raise BerthError(
            ErrorCode.WORKTREE_EXISTS,
            f"{default} already exists",
            "reuse it as the session's worktree, or move it away",
            remedies=(Remedy(RemedyAction.REUSE_WORKTREE, {"branch": branch}),),
            path=str(default),
        )
    plan = wt.plan(branch)
    with ctx.guard.step(undo.remove_worktree(default, plan.new_branch, plan.start_sha)):
        wt.create(default, plan)
    _set_worktree(ctx, default, owned=True)


def _set_worktree(ctx: BringUp, path: Path, *, owned: bool) -> None:
    ctx.session.worktree_path = str(path)
    ctx.session.worktree_owned = owned
    ctx.session.env_file = str(env_file(path))


def inherit_env_files(ctx: BringUp) -> None:
    # not undone: the files vanish with a fresh worktree, and a reused one keeps real files untouched
    envfile.inherit(ctx.layout.root, ctx.worktree, ctx.config.inherit_entries)


def write_env_file(ctx: BringUp) -> None:
    path = env_file(ctx.worktree)
    previous = path.read_text(encoding="utf-8") if path.is_file() else None
    with ctx.guard.step(undo.restore_file(path, previous)):
        envfile.write_atomically(path, envfile.render(ctx.generated_env()))


# -- teardown -------------------------------------------------------------------------------------
def run_warning_hook(td: TearDown, name: str, cwd: Path) -> None:
    """A teardown hook: its failure is a warning, teardown goes on."""
    command = getattr(td.config.hooks, name) if td.config else None
    if not command or td.session.status is SessionStatus.STOPPED:
        return
    try:
        hooks.run_hook(
            name,
            command,
            cwd=cwd if cwd.is_dir() else td.layout.root,
            env=td.process_env(),
            cancel=td.cancel,
            on_line=lambda line: td.log(line, source=name),
        )
    except BerthError as exc:
        td.warn(f"{exc.message} (teardown continued)")


def pre_down_hook(td: TearDown) -> None:
    run_warning_hook(td, "pre_down", td.worktree)


def post_down_hook(td: TearDown) -> None:
    run_warning_hook(td, "post_down", td.layout.root)


def berth_files(td: TearDown) -> list[str]:
    """Files Berth itself put in the worktree (they never count as the user's changes)."""
    return [e.file for e in td.config.inherit_entries] if td.config else []


def remove_worktree(td: TearDown) -> None:
    path = td.worktree
    if td.request.keep_worktree:
        td.kept.append(
            KeptResource(kind="worktree", name=str(path), reason="keeping the worktree was asked for")
        )
        td.keeps_session = True
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
    lock = worktree_lock(td.layout.root, path)
    if lock is not None:  # another tool's claim: even --force leaves it
        td.kept.append(KeptResource(kind="worktree", name=str(path), reason=_locked_reason(path, lock)))
        td.keeps_session = True
        return
    if not td.request.force:
        changes = user_changes(path, td.layout.root, berth_files(td))
        if changes:
            td.kept.append(
                KeptResource(
                    kind="worktree",
                    name=str(path),
                    reason=f"it has uncommitted changes ({_listing(changes)}); commit or stash them, then "
                    "take the session down again, or force the removal",
                    remedies=[RemedyView(action=RemedyAction.FORCE_DOWN, args={"slug": td.session.slug})],
                )
            )
            td.keeps_session = True
            return
    # berth's own files (.env.berth, inherited env links) would make git refuse; user changes were checked
    td.worktrees.remove(path, force=True)
    td.removed.append(ResourceRef(kind="worktree", name=str(path)))


def _locked_reason(path: Path, lock: str) -> str:
    why = f" ({lock})" if lock else ""
    return (
        f"another tool locked it with `git worktree lock`{why}; unlock it (`git worktree unlock {path}`), "
        "then take the session down again"
    )


def _listing(paths: list[str], limit: int = 5) -> str:
    shown = ", ".join(paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


def release_leases(td: TearDown) -> None:
    released = td.store.release_leases(td.session.slug)
    if released:
        td.removed.append(
            ResourceRef(kind="ports", name=", ".join(f"{n}={p}" for n, p in sorted(td.session.ports.items())))
        )


# -- down --dry-run: one planner per teardown step above, changing nothing --------------------------
def plan_worktree(p: DownPreview) -> None:
    """What `remove_worktree` would do, and the blockers: the user's uncommitted changes, commits on
    the session's branch that nothing else has, a worktree another tool locked."""
    path, slug, branch = p.worktree, p.session.slug, p.session.branch
    envf = env_file(path)
    removed = False
    if p.request.keep_worktree:
        p.keep.append(
            KeptResource(kind="worktree", name=str(path), reason="keeping the worktree was asked for")
        )
        p.keeps_session = True
    elif not p.session.worktree_owned:
        p.keep.append(
            KeptResource(
                kind="worktree",
                name=str(path),
                reason="berth did not create it (it was reused), so it never deletes it",
            )
        )
    elif not path.exists():
        p.warnings.append(f"the worktree {path} is already gone")
    elif (lock := worktree_lock(p.layout.root, path)) is not None:
        reason = _locked_reason(path, lock)
        p.keep.append(KeptResource(kind="worktree", name=str(path), reason=reason))
        p.blockers.append(
            DownBlocker(
                kind="lockedWorktree",
                message=f"the worktree is locked by another tool{f' ({lock})' if lock else ''}: down keeps "
                "it, and the session as stopped, even when forced",
                items=[str(path)],
            )
        )
        p.keeps_session = True
    else:
        files = [e.file for e in p.config.inherit_entries] if p.config else []
        changes = user_changes(path, p.layout.root, files)
        force = [RemedyView(action=RemedyAction.FORCE_DOWN, args={"slug": slug})]
        if changes and not p.request.force:
            p.keep.append(
                KeptResource(
                    kind="worktree",
                    name=str(path),
                    reason=f"it has uncommitted changes ({_listing(changes)}); commit or stash them, then "
                    "take the session down again, or force the removal",
                    remedies=force,
                )
            )
            p.blockers.append(
                DownBlocker(
                    kind="uncommittedChanges",
                    message=f"{len(changes)} uncommitted change(s) in the worktree: down keeps the worktree "
                    "(the session stays, stopped) unless forced, which deletes them",
                    items=changes,
                    remedies=force,
                )
            )
            p.keeps_session = True
        else:
            if changes:
                p.blockers.append(
                    DownBlocker(
                        kind="uncommittedChanges",
                        message=f"{len(changes)} uncommitted change(s) in the worktree are deleted with it "
                        "(forced)",
                        items=changes,
                    )
                )
            p.remove.append(ResourceRef(kind="worktree", name=str(path)))
            removed = True
    if envf.is_file():
        if removed:
            p.remove.append(ResourceRef(kind="env file", name=str(envf)))
        else:
            p.keep.append(
                KeptResource(kind="env file", name=str(envf), reason="it is in the worktree, which stays")
            )
    commits = unshared_commits(p.layout.root, branch)
    reason = "down never deletes a branch"
    if commits:
        reason += f"; {len(commits)} commit(s) on it are on no other branch and no remote"
        p.blockers.append(
            DownBlocker(
                kind="unpushedCommits",
                message=f"{len(commits)} commit(s) on {branch} are on no other branch and no remote: the branch "
                "is kept, so they stay, but push or merge them before deleting it",
                items=commits,
            )
        )
    p.keep.append(KeptResource(kind="branch", name=branch, reason=reason))


def plan_leases(p: DownPreview) -> None:
    """What `release_leases` would do."""
    if p.session.ports:
        p.remove.append(
            ResourceRef(
                kind="ports", name=", ".join(f"{n}={port}" for n, port in sorted(p.session.ports.items()))
            )
        )

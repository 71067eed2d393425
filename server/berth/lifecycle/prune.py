"""`prune`: remove what belongs to this repository and to no live session (leftovers.py finds it).

The plan lists every item with the reason it is a leftover; blockers are leftovers prune never
removes (a worktree with uncommitted changes, a directory git knows nothing about, a busy session).
Applying re-checks each item just before acting on it (a session may have claimed it since), replays
abandoned journals exactly as `recover` does, tears sessions whose worktree is gone down through
the engine's own `down`, and then looks again: the receipt lists what is really gone, and what is
still there and why. Volumes are removed only when asked (they may hold data). Nothing without this
repository's `berth.root` label, or this repository in its marker, is ever touched."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from berth.adapters import docker_engine, processes
from berth.adapters.git import user_changes
from berth.domain.config import BerthConfig, Mode
from berth.domain.engine_endpoint import Endpoint
from berth.domain.envnames import MARKER_ENV
from berth.domain.errors import BerthError, ErrorCode
from berth.domain.events import EventSink, NullSink
from berth.domain.identity import ProcessIdentity
from berth.domain.models import KeptResource, PruneItem, PruneReport
from berth.lifecycle import leftovers
from berth.lifecycle.engine import DownRequest, Engine
from berth.lifecycle.leftovers import EngineResource, Findings, MarkedProcess
from berth.modes.compose.undo import Sweep

ENGINE_KINDS = ("container", "network", "volume")


@dataclass
class PrunePlan:
    """What one prune would do, with the findings it came from."""

    findings: Findings
    volumes: bool
    items: list[PruneItem] = field(default_factory=list)
    blockers: list[KeptResource] = field(default_factory=list)
    kept: list[KeptResource] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.items

    def report(self, *, dry_run: bool) -> PruneReport:
        return PruneReport(
            root=str(self.findings.root),
            dry_run=dry_run,
            volumes=self.volumes,
            plan=self.items,
            blockers=self.blockers,
            kept=self.kept,
            residue_free=self.empty if dry_run else True,
        )


def plan(engine: Engine, *, volumes: bool = False) -> PrunePlan:
    """What prune would remove now (changes nothing). BerthError when berth.toml is invalid: its
    prefix and worktree_dir decide what a leftover is."""
    config = engine.ws.config()
    found = leftovers.find(engine.ws)
    result = PrunePlan(findings=found, volumes=volumes)
    add = result.items.append
    for op in found.abandoned:
        add(
            PruneItem(
                kind="journal",
                name=op.op_id,
                reason=f"interrupted {op.kind} of {op.slug}: its undo journal is replayed, as `berth recover` does",
            )
        )
    abandoned = {op.op_id for op in found.abandoned}
    for s in found.missing_worktrees:
        if s.op_id is not None and s.op_id not in abandoned:
            result.blockers.append(
                KeptResource(
                    kind="session",
                    name=s.slug,
                    reason=f"its worktree {s.worktree_path} is gone, but an operation on it is in flight",
                )
            )
            continue
        add(
            PruneItem(
                kind="session",
                name=s.slug,
                reason=f"its worktree {s.worktree_path} is gone: the session is taken down"
                + (
                    ""
                    if s.mode is Mode.HOST
                    else " with its volumes"
                    if volumes
                    else " (its volumes are kept)"
                ),
            )
        )
    for proc in found.processes:
        add(
            PruneItem(
                kind="process",
                name=proc.name,
                reason=f"carries this repository's marker ({proc.marker.partition('@')[0]}) "
                f"but belongs to no session{f' (slug {proc.slug})' if proc.slug else ''}",
            )
        )
    for res in found.engine or []:
        reason = f"labelled for this repository, compose project {res.project or '?'} has no session"
        if res.kind == "volume" and not volumes:
            result.kept.append(
                KeptResource(
                    kind="volume", name=res.name, reason=reason + "; volumes are removed only with --volumes"
                )
            )
        else:
            add(PruneItem(kind=res.kind, name=res.name, reason=reason))
    if found.engine_error:
        result.blockers.append(
            KeptResource(
                kind="engine",
                name=", ".join(e.host for e in found.engines) or "docker",
                reason=f"not searched: {found.engine_error}",
            )
        )
    for stray in found.stray_worktrees:
        if not stray.registered:
            result.blockers.append(
                KeptResource(
                    kind="directory",
                    name=str(stray.path),
                    reason="under worktree_dir but not a git worktree of this repository: remove it by hand "
                    "if you do not need it",
                )
            )
        elif stray.changes:
            result.blockers.append(
                KeptResource(
                    kind="worktree",
                    name=str(stray.path),
                    reason="uncommitted changes (" + ", ".join(stray.changes[:5]) + "): never removed; "
                    "commit or discard them, or remove it with `git worktree remove`",
                )
            )
        else:
            add(
                PruneItem(
                    kind="worktree",
                    name=str(stray.path),
                    reason=f"a clean git worktree under {config.worktree_dir} that no session owns "
                    "(its branch is kept)",
                )
            )
    for path in found.stale_registrations:
        add(
            PruneItem(
                kind="worktree registration",
                name=str(path),
                reason="git still lists this worktree, whose directory is gone",
            )
        )
    for lease in found.orphan_leases:
        add(
            PruneItem(
                kind="lease",
                name=f"{lease.port}/{lease.protocol}",
                reason=f"leased to {lease.slug}/{lease.service}, which has no session",
            )
        )
    return result


def refusal(report: PruneReport, why: str) -> BerthError:
    """Prune without confirmation: refused, with the plan in the details."""
    return BerthError(
        ErrorCode.CONFIRMATION_REQUIRED,
        f"prune would remove {len(report.plan)} item(s) and was not confirmed ({why})",
        "check the plan, then run `berth prune --yes` to apply it (`--volumes` removes leftover volumes too)",
        plan=report.to_wire(),
    )


def apply(engine: Engine, planned: PrunePlan, events: EventSink | None = None) -> PruneReport:
    """Remove what the plan lists, each item re-checked first; then look again and report."""
    sink = events or NullSink()
    ws = engine.ws
    root = ws.root
    errors: dict[tuple[str, str], str] = {}
    by_kind: dict[str, list[PruneItem]] = {}
    for item in planned.items:
        by_kind.setdefault(item.kind, []).append(item)

    def attempt(item: PruneItem, action: object) -> None:
        try:
            action()  # type: ignore[operator]
        except (BerthError, OSError, RuntimeError, psutil.Error) as exc:
            errors[(item.kind, item.name)] = exc.message if isinstance(exc, BerthError) else str(exc)
            sink.log("warning", f"prune: {item.kind} {item.name}: {errors[(item.kind, item.name)]}")

    # 1. abandoned journals, replayed as recover does (their sessions, processes, containers, worktrees)
    for slug in dict.fromkeys(op.slug for op in planned.findings.abandoned):
        with contextlib.suppress(BerthError):
            engine.recover(sink, only_slug=slug)
    # 2. sessions whose worktree is gone: the engine's own down, following the recorded mode
    for item in by_kind.get("session", []):

        def down(slug: str = item.name) -> None:
            record = ws.store.get_session(slug)
            if record is None or Path(record.worktree_path).is_dir() or record.op_id is not None:
                return  # gone already (a replayed journal), or taken over since the plan
            engine.down(DownRequest(slug=slug, keep_volumes=not planned.volumes), events=sink)

        attempt(item, down)
    # 3. processes carrying this repository's marker, re-identified (pid, start time, marker)
    victims = [
        p for p in planned.findings.processes if any(i.name == p.name for i in by_kind.get("process", []))
    ]
    for proc, live in _still_marked(victims):
        attempt(_item("process", proc.name), lambda live=live: processes.terminate([live]))
    # 4. engine resources, per compose project still without a session
    if any(k in by_kind for k in ENGINE_KINDS):
        attempt(_item("engine", "resources"), lambda: _remove_engine_resources(engine, planned))
    # 5. clean worktrees nobody owns, checked again for changes; registrations of vanished ones
    config = _config(engine)
    inherited = [e.file for e in config.inherit_entries] if config else []
    owned = {Path(s.worktree_path).resolve() for s in ws.store.list_sessions()}
    for item in by_kind.get("worktree", []):

        def remove_worktree(path: Path = Path(item.name)) -> None:
            if path in owned or not ws.worktrees.is_registered(path):
                raise RuntimeError("no longer a stray worktree; left alone")
            changes = user_changes(path, root, inherited)
            if changes:
                raise RuntimeError("it has uncommitted changes now (" + ", ".join(changes[:5]) + "); kept")
            ws.worktrees.remove(path, force=True)

        attempt(item, remove_worktree)
    for item in by_kind.get("worktree registration", []):

        def unregister(path: Path = Path(item.name)) -> None:
            if not path.exists() and path not in owned:
                ws.worktrees.remove(path, force=True)

        attempt(item, unregister)
    # 6. leases of slugs without a session (one transaction: a lease taken since is a session's)
    if "lease" in by_kind:
        ws.store.release_orphan_leases()
    return _receipt(engine, planned, errors)


def _config(engine: Engine) -> BerthConfig | None:
    try:
        return engine.ws.config()
    except BerthError:
        return None


def _item(kind: str, name: str) -> PruneItem:
    return PruneItem(kind=kind, name=name, reason="")


def _still_marked(victims: list[MarkedProcess]) -> list[tuple[MarkedProcess, psutil.Process]]:
    """Those processes still alive as they were planned: same pid, start time and marker."""
    out = []
    for proc in victims:
        with contextlib.suppress(psutil.Error, OSError):
            live = psutil.Process(proc.pid)
            same_start = ProcessIdentity(proc.pid, proc.start_time).started_at(live.create_time())
            if same_start and live.environ().get(MARKER_ENV) == proc.marker:
                out.append((proc, live))
    return out


def _remove_engine_resources(engine: Engine, planned: PrunePlan) -> None:
    """Containers, networks (and with `volumes`, volumes) of the planned compose projects that still
    have no session, found again by both labels: this repository's root and the project."""
    root = engine.ws.root
    sessions = engine.ws.store.list_sessions()
    live = leftovers.live_projects(sessions, _config(engine))
    by_engine: dict[str, tuple[Endpoint, set[str]]] = {}
    for r in planned.findings.engine or []:
        if r.project and r.project not in live:
            by_engine.setdefault(r.engine.host, (r.engine, set()))[1].add(r.project)
    for endpoint, projects in by_engine.values():
        with docker_engine.connect(endpoint, leftovers.ENGINE_TIMEOUT_SECONDS * 10) as client:
            for project in sorted(projects):
                sweep = Sweep(selector=docker_engine.session_labels(project, str(root)))
                sweep.run(client, remove_volumes=planned.volumes)  # what stays, _receipt finds again


def _receipt(engine: Engine, planned: PrunePlan, errors: dict[tuple[str, str], str]) -> PruneReport:
    """Look again (engine, git, processes, the state file) and sort the plan into removed and left."""
    ws = engine.ws
    wants_engine = any(i.kind in ENGINE_KINDS for i in planned.items)
    after = leftovers.find(ws, engine=True if wants_engine else None)
    still: set[tuple[str, str]] = set()
    ops = {op.op_id for op in ws.store.operations()}
    still |= {("journal", i.name) for i in planned.items if i.kind == "journal" and i.name in ops}
    slugs = {s.slug for s in ws.store.list_sessions()}
    still |= {("session", i.name) for i in planned.items if i.kind == "session" and i.name in slugs}
    marked = leftovers.marked_processes(ws.root)
    still |= {("process", p.name) for p in marked}
    resources: list[EngineResource] = []
    if wants_engine:
        resources, _ = leftovers.engine_resources(ws.root, planned.findings.engines or after.engines)
    still |= {(r.kind, r.name) for r in resources}
    registered = ws.worktrees.registered()
    for i in planned.items:
        if i.kind == "worktree" and (Path(i.name).exists() or Path(i.name) in registered):
            still.add((i.kind, i.name))
        if i.kind == "worktree registration" and Path(i.name) in registered:
            still.add((i.kind, i.name))
    leased = {f"{lease.port}/{lease.protocol}" for lease in ws.store.leases() if lease.slug not in slugs}
    still |= {("lease", name) for name in leased}
    removed = [i for i in planned.items if (i.kind, i.name) not in still]
    engine_error = errors.get(("engine", "resources"))
    left = [
        KeptResource(
            kind=i.kind,
            name=i.name,
            reason=errors.get((i.kind, i.name))
            or (engine_error if i.kind in ENGINE_KINDS else None)
            or "still there after removal",
        )
        for i in planned.items
        if (i.kind, i.name) in still
    ]
    kept = [
        KeptResource(
            kind="volume",
            name=r.name,
            reason=f"compose project {r.project or '?'} has no session; volumes are removed only with --volumes",
        )
        for r in after.engine or []
        if r.kind == "volume" and not planned.volumes
    ]
    blockers = list(planned.blockers)
    return PruneReport(
        root=str(ws.root),
        dry_run=False,
        volumes=planned.volumes,
        plan=planned.items,
        blockers=blockers,
        kept=kept,
        removed=removed,
        left=left,
        residue_free=not left,
    )

"""What belongs to one repository and to no live session, found the way each tool tells it: engine
resources by this repository's `berth.root` label, native processes by the repository in their
marker, worktrees through git, leases and journals in the state file. `doctor` reports these
findings; `prune` removes them. Nothing here changes anything."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from berth.adapters import docker_endpoint, docker_engine
from berth.adapters.git import user_changes
from berth.domain.config import BerthConfig, Mode
from berth.domain.engine_endpoint import LOCAL_ENGINE, Endpoint
from berth.domain.envnames import MARKER_ENV, SLUG_ENV, marker_op, marker_root
from berth.domain.errors import BerthError
from berth.domain.records import OperationRecord, SessionRecord
from berth.lifecycle.workspace import Workspace
from berth.modes.compose.project import compose_record, project_name
from berth.state.store import Lease, SessionStore

ENGINE_TIMEOUT_SECONDS = 3
"""How long doctor and prune wait for a Docker engine that does not answer."""


@dataclass(frozen=True)
class MarkedProcess:
    """A live process carrying this repository's marker."""

    pid: int
    start_time: float
    marker: str
    slug: str | None
    command: str

    @property
    def name(self) -> str:
        return f"pid {self.pid} ({self.command})"


@dataclass(frozen=True)
class EngineResource:
    kind: str
    """container, network or volume"""
    id: str
    name: str
    project: str
    engine: Endpoint = LOCAL_ENGINE
    """The engine that holds it."""


@dataclass(frozen=True)
class StrayWorktree:
    path: Path
    registered: bool
    """A git worktree of this repository (else a directory git knows nothing about)."""
    changes: list[str] = field(default_factory=list)
    """The user's uncommitted changes in it: such a worktree is never removed."""


@dataclass
class Findings:
    root: Path
    sessions: list[SessionRecord]
    abandoned: list[OperationRecord]
    processes: list[MarkedProcess]
    stray_worktrees: list[StrayWorktree]
    stale_registrations: list[Path]
    """Worktrees git still lists under worktree_dir whose directory is gone (`git worktree prune`)."""
    missing_worktrees: list[SessionRecord]
    """Sessions whose worktree directory is gone."""
    orphan_leases: list[Lease]
    engine: list[EngineResource] | None
    """None: the engine was not asked (unreachable, or not wanted)."""
    engine_error: str | None = None
    engines: list[Endpoint] = field(default_factory=list)
    """The engines searched."""


def live_projects(sessions: Iterable[SessionRecord], config: BerthConfig | None) -> set[str]:
    """The compose projects sessions of the state file own (recorded, or by the configured prefix)."""
    projects: set[str] = set()
    for s in sessions:
        record = compose_record(s)
        if record is not None:
            projects.add(record.project)
        projects.add(project_name(config.prefix if config else "berth", s.slug))
    return projects


def journal_projects(ws: Workspace, ops: Iterable[OperationRecord]) -> set[str]:
    """Compose projects an abandoned operation's journal takes down when it is replayed."""
    return {
        str(e.args["project"])
        for op in ops
        for e in ws.store.journal(op.op_id)
        if e.state.pending and "project" in e.args
    }


def marked_processes(root: Path) -> list[MarkedProcess]:
    """Live processes whose marker names `root` (one pass over the process table)."""
    wanted = str(root)
    found: list[MarkedProcess] = []
    me = os.getpid()
    for proc in psutil.process_iter(["pid", "create_time"]):
        if proc.pid == me:
            continue
        try:
            env = proc.environ()
            marker = env.get(MARKER_ENV)
            if marker is None or marker_root(marker) != wanted or proc.status() == psutil.STATUS_ZOMBIE:
                continue
            command = " ".join(proc.cmdline())[:120] or proc.name()
            found.append(
                MarkedProcess(proc.pid, proc.info["create_time"], marker, env.get(SLUG_ENV), command)
            )
        except (psutil.NoSuchProcess, psutil.AccessDenied, ProcessLookupError, PermissionError, OSError):
            continue
    return found


def orphan_processes(
    marked: Iterable[MarkedProcess], sessions: Iterable[SessionRecord], operations: Iterable[str]
) -> list[MarkedProcess]:
    """Marked processes of no session row and no operation of the state file (an abandoned
    operation's are stopped by replaying its journal)."""
    sessions = list(sessions)
    slugs = {s.slug for s in sessions}
    markers = {p.marker for s in sessions for p in s.processes.values()}
    ops = set(operations)
    return [
        p
        for p in marked
        if p.marker not in markers
        and marker_op(p.marker) not in ops
        and (p.slug is None or p.slug not in slugs)
    ]


def repository_engines(
    store: SessionStore | None, config: BerthConfig | None, sessions: Iterable[SessionRecord]
) -> list[Endpoint]:
    """The engines this repository may have resources on: the one a new session would use now,
    every engine a session recorded, and those the journals of operations name."""
    found: dict[str, Endpoint] = {}
    with contextlib.suppress(BerthError):  # an unknown context: the recorded engines are still searched
        now = docker_endpoint.resolve(configured=config.engine if config else None)
        found[now.host] = now
    for s in sessions:
        if s.mode is not Mode.HOST:
            found.setdefault(s.endpoint.host, s.endpoint)
    for op in store.operations() if store else []:
        for entry in store.journal(op.op_id) if store else []:
            if entry.state.pending and isinstance(entry.args.get("engine"), dict):
                recorded = Endpoint.from_dict(entry.args["engine"])
                found.setdefault(recorded.host, recorded)
    return list(found.values()) or [LOCAL_ENGINE]


def engine_resources(
    root: Path, endpoints: Iterable[Endpoint], *, timeout: int = ENGINE_TIMEOUT_SECONDS
) -> tuple[list[EngineResource], list[str]]:
    """Every container, network and volume carrying this repository's `berth.root` label (exactly
    this root: another repository's never match) on each engine, and the message of each engine that
    did not answer (DOCKER_UNAVAILABLE within `timeout` seconds)."""
    found: list[EngineResource] = []
    errors: list[str] = []
    for endpoint in endpoints:
        try:
            found += _resources_on(root, endpoint, timeout)
        except BerthError as exc:
            errors.append(exc.message)
    return found, errors


def _resources_on(root: Path, endpoint: Endpoint, timeout: int) -> list[EngineResource]:
    label = [f"{docker_engine.ROOT_LABEL}={root}"]
    found: list[EngineResource] = []
    with docker_engine.connect(endpoint, timeout) as client:
        for row in client.api.containers(all=True, filters={"label": label}):
            labels = row.get("Labels") or {}
            name = (row.get("Names") or [row["Id"][:12]])[0].lstrip("/")
            found.append(
                EngineResource(
                    "container", row["Id"], name, labels.get(docker_engine.SESSION_LABEL, ""), endpoint
                )
            )
        for row in client.api.networks(filters={"label": label}):
            labels = row.get("Labels") or {}
            found.append(
                EngineResource(
                    "network", row["Id"], row["Name"], labels.get(docker_engine.SESSION_LABEL, ""), endpoint
                )
            )
        for row in (client.api.volumes(filters={"label": label}) or {}).get("Volumes") or []:
            labels = row.get("Labels") or {}
            found.append(
                EngineResource(
                    "volume", row["Name"], row["Name"], labels.get(docker_engine.SESSION_LABEL, ""), endpoint
                )
            )
    return found


def engine_wanted(config: BerthConfig | None, sessions: Iterable[SessionRecord]) -> bool:
    """The engine matters to this repository: docker mode, or a docker-mode session recorded."""
    modes = {s.mode for s in sessions} | ({config.mode} if config else set())
    return bool(modes & {Mode.CONTAINER, Mode.HYBRID})


def stray_worktrees(
    ws: Workspace, config: BerthConfig, sessions: Iterable[SessionRecord]
) -> tuple[list[StrayWorktree], list[Path]]:
    """Directories under worktree_dir no session owns, and registrations there whose directory is gone."""
    base = (ws.root / config.worktree_dir).resolve()
    owned = {Path(s.worktree_path).resolve() for s in sessions}
    registered = ws.worktrees.registered()
    inherited = [e.file for e in config.inherit_entries]
    strays: list[StrayWorktree] = []
    if base.is_dir():
        for child in sorted(base.iterdir()):
            if not child.is_dir() or child.is_symlink() or child.resolve() in owned:
                continue
            path = child.resolve()
            is_worktree = path in registered
            changes = user_changes(path, ws.root, inherited) if is_worktree else []
            strays.append(StrayWorktree(path, is_worktree, changes))
    stale = sorted(p for p in registered if p.is_relative_to(base) and not p.exists() and p not in owned)
    return strays, stale


def find(ws: Workspace, *, engine: bool | None = None, state: bool = True) -> Findings:
    """Everything of this repository that no live session owns. `engine=None`: ask the engine when
    it matters to this repository or answers at once; True: always; False: never. `state=False`:
    there is no state file (never created, or lost), so nothing has a session; it is not created."""
    try:
        config: BerthConfig | None = ws.config()
    except BerthError:
        config = None
    store = ws.store if state else None
    sessions = store.list_sessions() if store else []
    abandoned = store.abandoned_operations() if store else []
    op_ids = [op.op_id for op in store.operations()] if store else []  # in flight or not
    slugs = {s.slug for s in sessions}
    processes = orphan_processes(marked_processes(ws.root), sessions, op_ids)
    strays, stale = stray_worktrees(ws, config, sessions) if config is not None else ([], [])
    missing = [s for s in sessions if not Path(s.worktree_path).is_dir()]
    leases = [lease for lease in store.leases() if lease.slug not in slugs] if store else []
    findings = Findings(
        root=ws.root,
        sessions=sessions,
        abandoned=abandoned,
        processes=processes,
        stray_worktrees=strays,
        stale_registrations=stale,
        missing_worktrees=missing,
        orphan_leases=leases,
        engine=None,
    )
    if engine is False:
        return findings
    findings.engines = repository_engines(store, config, sessions)
    resources, errors = engine_resources(ws.root, findings.engines)
    if errors and (engine or engine_wanted(config, sessions)):
        findings.engine_error = "; ".join(errors)
    if errors and not resources and len(errors) == len(findings.engines):
        return findings
    spared = live_projects(sessions, config) | journal_projects(ws, abandoned)
    findings.engine = [r for r in resources if r.project not in spared]
    return findings


def describe_process(pid: int) -> str:
    with contextlib.suppress(psutil.Error):
        proc = psutil.Process(pid)
        return f"PID {pid} ({proc.name()})"
    return f"PID {pid}"
